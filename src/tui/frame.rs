//! Writing a frame: only the cells that differ from the previous frame, with the
//! fewest escapes. A frame of a few cells (an age ticking) goes out as a cursor move
//! and the characters, without the synchronized-update brackets, cursor hiding and
//! colour resets a generic backend repeats on every frame; a larger one is bracketed
//! in a synchronized update so it never shows half drawn.

use std::io::{self, Write};

use crossterm::cursor::MoveTo;
use crossterm::queue;
use crossterm::style::Print;
use crossterm::terminal::{BeginSynchronizedUpdate, Clear, ClearType, EndSynchronizedUpdate};
use ratatui::buffer::Buffer;
use ratatui::style::{Color, Modifier};

/// Frames of at most this many changed cells are written without synchronized-update
/// brackets (a terminal cannot show a few cells "half drawn").
pub(crate) const SMALL_FRAME: usize = 16;

/// SGR parameter of each modifier.
const ATTRIBUTES: &[(Modifier, u8)] = &[
    (Modifier::BOLD, 1),
    (Modifier::DIM, 2),
    (Modifier::ITALIC, 3),
    (Modifier::UNDERLINED, 4),
    (Modifier::SLOW_BLINK, 5),
    (Modifier::RAPID_BLINK, 6),
    (Modifier::REVERSED, 7),
    (Modifier::HIDDEN, 8),
    (Modifier::CROSSED_OUT, 9),
];

/// SGR parameters of a colour: the short ANSI-16 codes for named colours (`base` 30
/// for foreground, 40 for background).
fn color_params(c: Color, base: u8, out: &mut Vec<String>) {
    let named = |i: u8| if i < 8 { base + i } else { base + 60 + i - 8 };
    let code = match c {
        Color::Reset => base + 9,
        Color::Black => named(0),
        Color::Red => named(1),
        Color::Green => named(2),
        Color::Yellow => named(3),
        Color::Blue => named(4),
        Color::Magenta => named(5),
        Color::Cyan => named(6),
        Color::Gray => named(7),
        Color::DarkGray => named(8),
        Color::LightRed => named(9),
        Color::LightGreen => named(10),
        Color::LightYellow => named(11),
        Color::LightBlue => named(12),
        Color::LightMagenta => named(13),
        Color::LightCyan => named(14),
        Color::White => named(15),
        Color::Indexed(i) => {
            out.push(format!("{};5;{i}", base + 8));
            return;
        }
        Color::Rgb(r, g, b) => {
            out.push(format!("{};2;{r};{g};{b}", base + 8));
            return;
        }
    };
    out.push(code.to_string());
}

/// Write `next` over what the terminal shows (`prev`; `None` or another size = a
/// blank screen after a clear). Every frame starts and ends with the default
/// attributes, so nothing is assumed between frames. Returns the cells written.
pub(crate) fn write_frame(
    out: &mut impl Write,
    prev: Option<&Buffer>,
    next: &Buffer,
) -> io::Result<usize> {
    let blank;
    let prev = match prev {
        Some(p) if p.area == next.area => p,
        _ => {
            queue!(out, Clear(ClearType::All))?;
            blank = Buffer::empty(next.area);
            &blank
        }
    };
    let updates = prev.diff(next);
    if updates.is_empty() {
        return Ok(0);
    }
    let sync = updates.len() > SMALL_FRAME;
    if sync {
        queue!(out, BeginSynchronizedUpdate)?;
    }
    let (mut fg, mut bg, mut modifier) = (Color::Reset, Color::Reset, Modifier::empty());
    let mut last: Option<(u16, u16)> = None;
    for &(x, y, cell) in &updates {
        if !matches!(last, Some((lx, ly)) if ly == y && lx + 1 == x) {
            queue!(out, MoveTo(x, y))?;
        }
        last = Some((x, y));
        // One SGR sequence for the whole change of style.
        let mut sgr: Vec<String> = Vec::new();
        if cell.modifier != modifier {
            // Removing an attribute has no portable single code: reset, then set.
            if !(modifier - cell.modifier).is_empty() {
                sgr.push("0".into());
                (fg, bg, modifier) = (Color::Reset, Color::Reset, Modifier::empty());
            }
            for (m, code) in ATTRIBUTES {
                if cell.modifier.contains(*m) && !modifier.contains(*m) {
                    sgr.push(code.to_string());
                }
            }
            modifier = cell.modifier;
        }
        if cell.fg != fg {
            color_params(cell.fg, 30, &mut sgr);
            fg = cell.fg;
        }
        if cell.bg != bg {
            color_params(cell.bg, 40, &mut sgr);
            bg = cell.bg;
        }
        if !sgr.is_empty() {
            write!(out, "\x1b[{}m", sgr.join(";"))?;
        }
        queue!(out, Print(cell.symbol()))?;
    }
    if fg != Color::Reset || bg != Color::Reset || !modifier.is_empty() {
        out.write_all(b"\x1b[m")?;
    }
    if sync {
        queue!(out, EndSynchronizedUpdate)?;
    }
    out.flush()?;
    Ok(updates.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ratatui::layout::Rect;
    use ratatui::style::Style;

    fn parse(bytes: &[u8], w: u16, h: u16, parser: &mut Option<vt100::Parser>) -> String {
        let p = parser.get_or_insert_with(|| vt100::Parser::new(h, w, 0));
        p.process(bytes);
        p.screen().contents()
    }

    #[test]
    fn a_ticking_age_costs_a_cursor_move_and_its_digits() {
        let area = Rect::new(0, 0, 120, 40);
        let mut a = Buffer::empty(area);
        a.set_string(0, 1, "last save 12s ago", Style::new());
        a.set_string(20, 1, "trainer", Style::new().fg(Color::Green));
        let mut out = Vec::new();
        write_frame(&mut out, None, &a).unwrap();
        let mut b = a.clone();
        b.set_string(0, 1, "last save 13s ago", Style::new());
        let mut tick = Vec::new();
        assert_eq!(write_frame(&mut tick, Some(&a), &b).unwrap(), 1);
        assert_eq!(tick, b"\x1b[2;12H3", "{:?}", String::from_utf8_lossy(&tick));
        assert_eq!(write_frame(&mut Vec::new(), Some(&b), &b).unwrap(), 0);
    }

    #[test]
    fn frames_replay_to_the_same_screen_with_styles() {
        let area = Rect::new(0, 0, 30, 4);
        let mut parser = None;
        let mut a = Buffer::empty(area);
        a.set_string(0, 0, "bold", Style::new().add_modifier(Modifier::BOLD));
        a.set_string(5, 0, "red", Style::new().fg(Color::Red));
        a.set_string(0, 1, "plain ⣀⡠ text", Style::new());
        let mut out = Vec::new();
        write_frame(&mut out, None, &a).unwrap();
        assert_eq!(parse(&out, 30, 4, &mut parser), "bold red\nplain ⣀⡠ text");
        let mut b = a.clone();
        b.set_string(0, 0, "dim ", Style::new().add_modifier(Modifier::DIM));
        b.set_string(
            5,
            0,
            "grn",
            Style::new()
                .fg(Color::Green)
                .add_modifier(Modifier::REVERSED),
        );
        b.set_string(0, 3, "new line", Style::new());
        let mut out = Vec::new();
        write_frame(&mut out, Some(&a), &b).unwrap();
        let text = parse(&out, 30, 4, &mut parser);
        assert_eq!(text, "dim  grn\nplain ⣀⡠ text\n\nnew line");
        let p = parser.as_ref().unwrap().screen();
        assert!(!p.cell(0, 0).unwrap().bold(), "bold removed");
        assert!(p.cell(0, 5).unwrap().inverse());
        assert_eq!(p.cell(0, 5).unwrap().fgcolor(), vt100::Color::Idx(2));
        assert!(
            !p.cell(3, 0).unwrap().inverse(),
            "attributes end with the frame"
        );
        // Another size: cleared and drawn whole.
        let c = Buffer::empty(Rect::new(0, 0, 20, 2));
        let mut out = Vec::new();
        write_frame(&mut out, Some(&b), &c).unwrap();
        assert!(out.starts_with(b"\x1b[2J"));
    }
}
