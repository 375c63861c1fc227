//! A data-only reader for Python pickles (protocols 0–5, as `torch.save` writes them).
//!
//! It never imports or calls anything: `GLOBAL` becomes [`Value::Global`], `REDUCE`/`NEWOBJ`
//! become an opaque [`Value::Object`], and torch's tensor storages (`BINPERSID`) become
//! [`Value::PersId`]. Unknown opcodes are an error, never a panic; memory is bounded by the
//! input size (each opcode creates at most one node) and by a cost budget when the result
//! tree is built, and nesting depth is capped.

use std::collections::HashMap;
use std::fmt;

/// Deepest nesting the result tree may have (cycles made through the memo end here too).
const MAX_DEPTH: usize = 200;
/// Most the result tree may cost: one per node plus one per 32 bytes of strings
/// (shared memo entries count once per use), i.e. at most ~2M values or ~64 MB of text.
const MAX_COST: usize = 1_000_000;
/// Most memory the machine (arena, stack, memo) may account for, whatever the input:
/// a hostile pickle of N bytes could otherwise make ~80·N bytes of nodes.
pub const MAX_MACHINE_BYTES: usize = 128 << 20;
/// Accounted bytes allowed per input byte below that cap: real torch pickles need
/// 5–20 (one node per 5–13 bytes of pickle), so legitimate files fit with room.
const BYTES_PER_INPUT_BYTE: usize = 32;
/// Floor of the allowance, for tiny inputs.
const MIN_MACHINE_BYTES: usize = 1 << 20;

/// The memory the machine may use for `input_len` bytes of pickle: a small multiple of
/// the input, never more than [`MAX_MACHINE_BYTES`].
pub fn machine_limit(input_len: usize) -> usize {
    input_len
        .saturating_mul(BYTES_PER_INPUT_BYTE)
        .saturating_add(MIN_MACHINE_BYTES)
        .min(MAX_MACHINE_BYTES)
}

/// A pickled value, as data.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    None,
    Bool(bool),
    Int(i64),
    /// An integer too large for i64: its little-endian two's complement bytes.
    BigInt(Vec<u8>),
    Float(f64),
    Str(String),
    Bytes(Vec<u8>),
    List(Vec<Value>),
    Tuple(Vec<Value>),
    /// Keys and values in pickle order (an `OrderedDict` reads as a dict too).
    Dict(Vec<(Value, Value)>),
    Set(Vec<Value>),
    /// A reference to a Python global (`module.name`); never resolved.
    Global {
        module: String,
        name: String,
    },
    /// The result of calling something (`REDUCE`, `NEWOBJ`): kept as data, never run.
    /// `state` is what `BUILD` set on it; `items` what `SETITEM(S)` added.
    Object {
        callable: Box<Value>,
        args: Box<Value>,
        state: Option<Box<Value>>,
        items: Vec<(Value, Value)>,
    },
    /// A persistent id (torch: a tensor storage reference); opaque.
    PersId(Box<Value>),
}

impl Value {
    /// Look a string key up in a dict (or in an object's `BUILD` state dict).
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Dict(items) => items
                .iter()
                .find(|(k, _)| matches!(k, Value::Str(s) if s == key))
                .map(|(_, v)| v),
            Value::Object { state, items, .. } => items
                .iter()
                .find(|(k, _)| matches!(k, Value::Str(s) if s == key))
                .map(|(_, v)| v)
                .or_else(|| state.as_deref().and_then(|s| s.get(key))),
            _ => None,
        }
    }

    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            Value::Bool(b) => Some(i64::from(*b)),
            _ => None,
        }
    }

    /// Numbers as f64 (ints convert; a 0-dim tensor does not, it is opaque).
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Float(f) => Some(*f),
            Value::Int(i) => Some(*i as f64),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// Elements of a list, tuple or set.
    pub(crate) fn as_seq(&self) -> Option<&[Value]> {
        match self {
            Value::List(v) | Value::Tuple(v) | Value::Set(v) => Some(v),
            _ => None,
        }
    }

    /// Entries of a dict (or of an object filled by `SETITEMS`).
    pub fn as_dict(&self) -> Option<&[(Value, Value)]> {
        match self {
            Value::Dict(items) => Some(items),
            Value::Object { items, .. } => Some(items),
            _ => None,
        }
    }
}

/// Why a pickle could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PickleError {
    /// Byte offset of the opcode that failed.
    pub offset: usize,
    pub reason: String,
}

impl fmt::Display for PickleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "pickle error at byte {}: {}", self.offset, self.reason)
    }
}

impl std::error::Error for PickleError {}

/// One node of the arena: containers refer to children by index, so the memo and the
/// stack share objects exactly as Python does (a dict memoized empty, then filled).
#[derive(Debug, Clone)]
enum Node {
    Leaf(Value),
    List(Vec<usize>),
    Tuple(Vec<usize>),
    Dict(Vec<(usize, usize)>),
    Set(Vec<usize>),
    Object {
        callable: usize,
        args: usize,
        state: Option<usize>,
        items: Vec<(usize, usize)>,
    },
    PersId(usize),
}

#[derive(Debug, Clone, Copy)]
enum Slot {
    Mark,
    Ref(usize),
}

struct Machine<'a> {
    data: &'a [u8],
    pos: usize,
    op_at: usize,
    nodes: Vec<Node>,
    stack: Vec<Slot>,
    memo: HashMap<u64, usize>,
    /// Bytes accounted so far (nodes, their heap, stack slots, memo entries) and the
    /// most allowed ([`machine_limit`]): past it the parse stops with an error.
    used: usize,
    limit: usize,
    /// Shared nodes for immutable values (None, True, False, ()), as Python shares them:
    /// pushing one costs a stack slot, not a node.
    interned: [Option<usize>; 4],
}

/// Parse one pickle (up to its `STOP`) into data.
pub fn parse(data: &[u8]) -> Result<Value, PickleError> {
    let mut m = Machine::new(data);
    let root = m.run()?;
    let mut budget = MAX_COST;
    m.build(root, 0, &mut budget)
}

/// Parse a pickle whose top level is a dict, but build only the entries under `keys`
/// (e.g. a torch checkpoint's `epoch`, `metric`, `saver` without its `state_dict`).
/// A top level that is not a dict is built whole.
pub fn parse_keys(data: &[u8], keys: &[&str]) -> Result<Value, PickleError> {
    let mut m = Machine::new(data);
    let root = m.run()?;
    let mut budget = MAX_COST;
    let Node::Dict(items) = &m.nodes[root] else {
        return m.build(root, 0, &mut budget);
    };
    let mut out = Vec::new();
    for &(k, v) in items {
        if let Node::Leaf(Value::Str(name)) = &m.nodes[k] {
            if keys.contains(&name.as_str()) {
                out.push((Value::Str(name.clone()), m.build(v, 1, &mut budget)?));
            }
        }
    }
    Ok(Value::Dict(out))
}

impl<'a> Machine<'a> {
    fn new(data: &'a [u8]) -> Self {
        Machine {
            data,
            pos: 0,
            op_at: 0,
            nodes: Vec::new(),
            stack: Vec::new(),
            memo: HashMap::new(),
            used: 0,
            limit: machine_limit(data.len()),
            interned: [None; 4],
        }
    }

    /// Account `bytes` more; an error once past the limit (checked before allocating).
    fn charge(&mut self, bytes: usize) -> Result<(), PickleError> {
        self.used = self.used.saturating_add(bytes);
        if self.used > self.limit {
            return self.err(format!(
                "needs more than {} MiB of memory for {} bytes of pickle (hostile or \
                 far larger than a checkpoint's metadata); not read",
                self.limit >> 20,
                self.data.len()
            ));
        }
        Ok(())
    }

    fn push_slot(&mut self, s: Slot) -> Result<(), PickleError> {
        self.charge(std::mem::size_of::<Slot>())?;
        self.stack.push(s);
        Ok(())
    }

    /// Push a shared immutable value (index into `interned`).
    fn push_interned(&mut self, which: usize, make: fn() -> Node) -> Result<(), PickleError> {
        match self.interned[which] {
            Some(i) => self.push_slot(Slot::Ref(i)),
            None => {
                self.push_node(make())?;
                self.interned[which] = Some(self.nodes.len() - 1);
                Ok(())
            }
        }
    }

    fn err<T>(&self, reason: impl Into<String>) -> Result<T, PickleError> {
        Err(PickleError {
            offset: self.op_at,
            reason: reason.into(),
        })
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], PickleError> {
        let data: &'a [u8] = self.data;
        match self.pos.checked_add(n) {
            Some(end) if end <= data.len() => {
                let s = &data[self.pos..end];
                self.pos = end;
                Ok(s)
            }
            _ => self.err(format!("truncated: needs {n} more bytes")),
        }
    }

    fn u8(&mut self) -> Result<u8, PickleError> {
        Ok(self.take(1)?[0])
    }

    fn le_u64(&mut self, n: usize) -> Result<u64, PickleError> {
        let b = self.take(n)?;
        let mut v = 0u64;
        for (i, byte) in b.iter().enumerate() {
            v |= u64::from(*byte) << (8 * i);
        }
        Ok(v)
    }

    fn line(&mut self) -> Result<&'a [u8], PickleError> {
        let data: &'a [u8] = self.data;
        let rest = &data[self.pos.min(data.len())..];
        match rest.iter().position(|&b| b == b'\n') {
            Some(i) => {
                self.pos += i + 1;
                Ok(&rest[..i])
            }
            None => self.err("truncated: missing newline"),
        }
    }

    fn len_for(&mut self, n: usize) -> Result<usize, PickleError> {
        let len = self.le_u64(n)?;
        let remaining = (self.data.len() - self.pos) as u64;
        if len > remaining {
            return self.err(format!("length {len} runs past the end"));
        }
        Ok(len as usize)
    }

    fn push_node(&mut self, n: Node) -> Result<(), PickleError> {
        let heap = match &n {
            Node::Leaf(Value::Str(s)) => s.len(),
            Node::Leaf(Value::Bytes(b)) | Node::Leaf(Value::BigInt(b)) => b.len(),
            Node::Leaf(Value::Global { module, name }) => module.len() + name.len(),
            Node::List(v) | Node::Tuple(v) | Node::Set(v) => v.len() * 8,
            Node::Dict(v) => v.len() * 16,
            _ => 0,
        };
        self.charge(std::mem::size_of::<Node>() + heap)?;
        self.nodes.push(n);
        self.push_slot(Slot::Ref(self.nodes.len() - 1))
    }

    fn leaf(&mut self, v: Value) -> Result<(), PickleError> {
        self.push_node(Node::Leaf(v))
    }

    fn pop(&mut self) -> Result<usize, PickleError> {
        match self.stack.pop() {
            Some(Slot::Ref(i)) => Ok(i),
            Some(Slot::Mark) => self.err("unexpected MARK on the stack"),
            None => self.err("stack underflow"),
        }
    }

    fn top(&self) -> Result<usize, PickleError> {
        match self.stack.last() {
            Some(Slot::Ref(i)) => Ok(*i),
            Some(Slot::Mark) => self.err("unexpected MARK on the stack"),
            None => self.err("stack underflow"),
        }
    }

    /// Pop everything down to the last MARK (and the mark itself).
    fn pop_mark(&mut self) -> Result<Vec<usize>, PickleError> {
        let Some(at) = self.stack.iter().rposition(|s| matches!(s, Slot::Mark)) else {
            return self.err("no MARK on the stack")?;
        };
        let items = self.stack[at + 1..]
            .iter()
            .filter_map(|s| match s {
                Slot::Ref(i) => Some(*i),
                Slot::Mark => None,
            })
            .collect();
        self.stack.truncate(at);
        Ok(items)
    }

    fn put(&mut self, key: u64) -> Result<(), PickleError> {
        let top = self.top()?;
        // A hash map entry: key, value, control byte and load-factor slack.
        self.charge(32)?;
        self.memo.insert(key, top);
        Ok(())
    }

    fn get(&mut self, key: u64) -> Result<(), PickleError> {
        match self.memo.get(&key) {
            Some(&i) => self.push_slot(Slot::Ref(i)),
            None => self.err(format!("memo key {key} not found")),
        }
    }

    fn str_of(&self, b: &[u8]) -> Result<String, PickleError> {
        match std::str::from_utf8(b) {
            Ok(s) => Ok(s.to_string()),
            Err(_) => self.err("invalid UTF-8 in a string"),
        }
    }

    fn text_num(&mut self) -> Result<String, PickleError> {
        let l = self.line()?;
        let s = String::from_utf8_lossy(l).trim().to_string();
        Ok(s)
    }

    fn add_items(&mut self, target: usize, kv: Vec<usize>) -> Result<(), PickleError> {
        if kv.len() % 2 != 0 {
            return self.err("odd number of items for SETITEMS");
        }
        self.charge(kv.len() * 8)?;
        let pairs: Vec<(usize, usize)> = kv.chunks(2).map(|c| (c[0], c[1])).collect();
        match &mut self.nodes[target] {
            Node::Dict(items) | Node::Object { items, .. } => {
                items.extend(pairs);
                Ok(())
            }
            _ => self.err("SETITEM(S) on something that is not a dict"),
        }
    }

    fn append_items(&mut self, target: usize, vals: Vec<usize>) -> Result<(), PickleError> {
        self.charge(vals.len() * 8)?;
        match &mut self.nodes[target] {
            Node::List(items) | Node::Set(items) => {
                items.extend(vals);
                Ok(())
            }
            _ => self.err("APPEND(S) on something that is not a list"),
        }
    }

    fn make_object(&mut self, callable: usize, args: usize) -> Result<(), PickleError> {
        // OrderedDict() is just a dict as far as data goes.
        let is_odict = matches!(&self.nodes[callable],
            Node::Leaf(Value::Global { module, name })
                if module == "collections" && name == "OrderedDict");
        let empty_args = matches!(&self.nodes[args], Node::Tuple(t) if t.is_empty());
        if is_odict && empty_args {
            self.push_node(Node::Dict(Vec::new()))
        } else {
            self.push_node(Node::Object {
                callable,
                args,
                state: None,
                items: Vec::new(),
            })
        }
    }

    fn run(&mut self) -> Result<usize, PickleError> {
        loop {
            self.op_at = self.pos;
            let op = self.u8()?;
            match op {
                0x80 => {
                    let p = self.u8()?;
                    if p > 5 {
                        return self.err(format!("unsupported protocol {p}"));
                    }
                }
                0x95 => {
                    self.take(8)?;
                } // FRAME: framing is transparent
                b'.' => return self.pop(),
                b'(' => self.push_slot(Slot::Mark)?,
                b'0' => {
                    self.stack.pop();
                }
                b'1' => {
                    self.pop_mark()?;
                }
                b'2' => {
                    let t = self.top()?;
                    self.push_slot(Slot::Ref(t))?;
                }
                b'N' => self.push_interned(0, || Node::Leaf(Value::None))?,
                0x88 => self.push_interned(1, || Node::Leaf(Value::Bool(true)))?,
                0x89 => self.push_interned(2, || Node::Leaf(Value::Bool(false)))?,
                b'J' => {
                    let v = self.le_u64(4)? as u32 as i32;
                    self.leaf(Value::Int(i64::from(v)))?;
                }
                b'K' => {
                    let v = self.u8()?;
                    self.leaf(Value::Int(i64::from(v)))?;
                }
                b'M' => {
                    let v = self.le_u64(2)?;
                    self.leaf(Value::Int(v as i64))?;
                }
                0x8a | 0x8b => {
                    let n = if op == 0x8a {
                        self.u8()? as usize
                    } else {
                        let n = self.le_u64(4)? as u32 as i32;
                        if n < 0 {
                            return self.err("negative LONG4 length");
                        }
                        n as usize
                    };
                    let b = self.take(n)?;
                    self.leaf(long_value(b))?;
                }
                b'I' | b'L' => {
                    let s = self.text_num()?;
                    let s = s.trim_end_matches('L');
                    let v = match s {
                        "00" => Value::Bool(false),
                        "01" => Value::Bool(true),
                        _ => match s.parse::<i64>() {
                            Ok(i) => Value::Int(i),
                            Err(_) => return self.err(format!("bad INT text {s:?}")),
                        },
                    };
                    self.leaf(v)?;
                }
                b'G' => {
                    let b = self.take(8)?;
                    let mut a = [0u8; 8];
                    a.copy_from_slice(b);
                    self.leaf(Value::Float(f64::from_be_bytes(a)))?;
                }
                b'F' => {
                    let s = self.text_num()?;
                    match s.parse::<f64>() {
                        Ok(f) => self.leaf(Value::Float(f))?,
                        Err(_) => return self.err(format!("bad FLOAT text {s:?}")),
                    }
                }
                b'X' | 0x8c | 0x8d => {
                    let n = match op {
                        b'X' => self.len_for(4)?,
                        0x8c => self.len_for(1)?,
                        _ => self.len_for(8)?,
                    };
                    let b = self.take(n)?;
                    let s = self.str_of(b)?;
                    self.leaf(Value::Str(s))?;
                }
                b'T' | b'U' => {
                    // Python 2 str: text when it is UTF-8, else bytes.
                    let n = if op == b'T' {
                        self.len_for(4)?
                    } else {
                        self.len_for(1)?
                    };
                    let b = self.take(n)?;
                    let v = match std::str::from_utf8(b) {
                        Ok(s) => Value::Str(s.to_string()),
                        Err(_) => Value::Bytes(b.to_vec()),
                    };
                    self.leaf(v)?;
                }
                b'B' | b'C' | 0x8e | 0x96 => {
                    let n = match op {
                        b'B' => self.len_for(4)?,
                        b'C' => self.len_for(1)?,
                        _ => self.len_for(8)?,
                    };
                    let b = self.take(n)?;
                    self.leaf(Value::Bytes(b.to_vec()))?;
                }
                b'}' => self.push_node(Node::Dict(Vec::new()))?,
                b']' => self.push_node(Node::List(Vec::new()))?,
                b')' => self.push_interned(3, || Node::Tuple(Vec::new()))?,
                0x8f => self.push_node(Node::Set(Vec::new()))?,
                b'd' => {
                    let kv = self.pop_mark()?;
                    self.push_node(Node::Dict(Vec::new()))?;
                    let t = self.top()?;
                    self.add_items(t, kv)?;
                }
                b'l' => {
                    let items = self.pop_mark()?;
                    self.push_node(Node::List(items))?;
                }
                b't' => {
                    let items = self.pop_mark()?;
                    self.push_node(Node::Tuple(items))?;
                }
                0x91 => {
                    let items = self.pop_mark()?;
                    self.push_node(Node::Set(items))?;
                }
                0x85..=0x87 => {
                    let n = (op - 0x84) as usize;
                    let mut items = Vec::with_capacity(n);
                    for _ in 0..n {
                        items.push(self.pop()?);
                    }
                    items.reverse();
                    self.push_node(Node::Tuple(items))?;
                }
                b'a' => {
                    let v = self.pop()?;
                    let t = self.top()?;
                    self.append_items(t, vec![v])?;
                }
                b'e' | 0x90 => {
                    let vals = self.pop_mark()?;
                    let t = self.top()?;
                    self.append_items(t, vals)?;
                }
                b's' => {
                    let v = self.pop()?;
                    let k = self.pop()?;
                    let t = self.top()?;
                    self.add_items(t, vec![k, v])?;
                }
                b'u' => {
                    let kv = self.pop_mark()?;
                    let t = self.top()?;
                    self.add_items(t, kv)?;
                }
                b'q' => {
                    let k = self.le_u64(1)?;
                    self.put(k)?;
                }
                b'r' => {
                    let k = self.le_u64(4)?;
                    self.put(k)?;
                }
                0x94 => {
                    let k = self.memo.len() as u64;
                    self.put(k)?;
                }
                b'p' => {
                    let s = self.text_num()?;
                    match s.parse::<u64>() {
                        Ok(k) => self.put(k)?,
                        Err(_) => return self.err(format!("bad PUT key {s:?}")),
                    }
                }
                b'h' => {
                    let k = self.le_u64(1)?;
                    self.get(k)?;
                }
                b'j' => {
                    let k = self.le_u64(4)?;
                    self.get(k)?;
                }
                b'g' => {
                    let s = self.text_num()?;
                    match s.parse::<u64>() {
                        Ok(k) => self.get(k)?,
                        Err(_) => return self.err(format!("bad GET key {s:?}")),
                    }
                }
                b'c' => {
                    let module = String::from_utf8_lossy(self.line()?).into_owned();
                    let name = String::from_utf8_lossy(self.line()?).into_owned();
                    self.leaf(Value::Global { module, name })?;
                }
                0x93 => {
                    let name = self.pop()?;
                    let module = self.pop()?;
                    match (&self.nodes[module], &self.nodes[name]) {
                        (Node::Leaf(Value::Str(m)), Node::Leaf(Value::Str(n))) => {
                            let v = Value::Global {
                                module: m.clone(),
                                name: n.clone(),
                            };
                            self.leaf(v)?;
                        }
                        _ => return self.err("STACK_GLOBAL needs two strings"),
                    }
                }
                b'R' | 0x81 => {
                    let args = self.pop()?;
                    let callable = self.pop()?;
                    self.make_object(callable, args)?;
                }
                0x92 => {
                    let kwargs = self.pop()?;
                    let args = self.pop()?;
                    let callable = self.pop()?;
                    let _ = kwargs;
                    self.make_object(callable, args)?;
                }
                b'b' => {
                    let state = self.pop()?;
                    let t = self.top()?;
                    match &mut self.nodes[t] {
                        Node::Object { state: s, .. } => *s = Some(state),
                        // BUILD on a dict/list updates it in Python; as data we keep the dict as is.
                        Node::Dict(_) | Node::List(_) => {}
                        _ => return self.err("BUILD on something that is not an object"),
                    }
                }
                b'Q' => {
                    let pid = self.pop()?;
                    self.push_node(Node::PersId(pid))?;
                }
                b'P' => {
                    let l = self.line()?;
                    let v = Value::Str(String::from_utf8_lossy(l).into_owned());
                    self.charge(std::mem::size_of::<Node>() + l.len())?;
                    self.nodes.push(Node::Leaf(v));
                    let pid = self.nodes.len() - 1;
                    self.push_node(Node::PersId(pid))?;
                }
                other => {
                    return self.err(format!("unsupported opcode 0x{other:02x}"));
                }
            }
        }
    }

    /// Turn the arena into a tree, bounded in depth and size.
    fn build(&self, i: usize, depth: usize, budget: &mut usize) -> Result<Value, PickleError> {
        let fail = |reason: &str| {
            Err(PickleError {
                offset: self.data.len(),
                reason: reason.to_string(),
            })
        };
        if depth > MAX_DEPTH {
            return fail("nested too deeply (or a cycle)");
        }
        // A node costs 1, a string or bytes value 1 per 32 bytes more: shared memo
        // entries are copied per use, so this bounds both count and bytes.
        let cost = match &self.nodes[i] {
            Node::Leaf(Value::Str(s)) => 1 + s.len() / 32,
            Node::Leaf(Value::Bytes(b)) | Node::Leaf(Value::BigInt(b)) => 1 + b.len() / 32,
            _ => 1,
        };
        if *budget < cost {
            return fail("too many values");
        }
        *budget -= cost;
        let seq = |items: &[usize], budget: &mut usize| -> Result<Vec<Value>, PickleError> {
            items
                .iter()
                .map(|&c| self.build(c, depth + 1, budget))
                .collect()
        };
        let pairs = |items: &[(usize, usize)],
                     budget: &mut usize|
         -> Result<Vec<(Value, Value)>, PickleError> {
            items
                .iter()
                .map(|&(k, v)| {
                    Ok((
                        self.build(k, depth + 1, budget)?,
                        self.build(v, depth + 1, budget)?,
                    ))
                })
                .collect()
        };
        Ok(match &self.nodes[i] {
            Node::Leaf(v) => v.clone(),
            Node::List(items) => Value::List(seq(items, budget)?),
            Node::Tuple(items) => Value::Tuple(seq(items, budget)?),
            Node::Set(items) => Value::Set(seq(items, budget)?),
            Node::Dict(items) => Value::Dict(pairs(items, budget)?),
            Node::Object {
                callable,
                args,
                state,
                items,
            } => Value::Object {
                callable: Box::new(self.build(*callable, depth + 1, budget)?),
                args: Box::new(self.build(*args, depth + 1, budget)?),
                state: match state {
                    Some(s) => Some(Box::new(self.build(*s, depth + 1, budget)?)),
                    None => None,
                },
                items: pairs(items, budget)?,
            },
            Node::PersId(p) => Value::PersId(Box::new(self.build(*p, depth + 1, budget)?)),
        })
    }
}

/// A little-endian two's complement integer (LONG1/LONG4).
fn long_value(b: &[u8]) -> Value {
    if b.is_empty() {
        return Value::Int(0);
    }
    if b.len() > 8 {
        return Value::BigInt(b.to_vec());
    }
    let negative = b[b.len() - 1] & 0x80 != 0;
    let mut buf = if negative { [0xffu8; 8] } else { [0u8; 8] };
    buf[..b.len()].copy_from_slice(b);
    Value::Int(i64::from_le_bytes(buf))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn machine_memory_is_a_small_multiple_of_the_input_with_a_hard_cap() {
        assert_eq!(machine_limit(0), MIN_MACHINE_BYTES);
        assert_eq!(machine_limit(1000), MIN_MACHINE_BYTES + 32_000);
        assert_eq!(machine_limit(60 << 20), MAX_MACHINE_BYTES);
        assert_eq!(machine_limit(usize::MAX), MAX_MACHINE_BYTES);
        // 8 MiB of EMPTY_LIST: ~80 bytes of nodes per input byte before; now refused
        // once the accounted memory passes the cap, never built.
        let mut hostile = vec![0x80, 2];
        hostile.resize(8 << 20, b']');
        hostile.push(b'.');
        let mut m = Machine::new(&hostile);
        let err = m.run().unwrap_err();
        assert!(err.reason.contains("MiB of memory"), "{err}");
        assert!(m.used <= m.limit + 4096, "{} > {}", m.used, m.limit);
        let real = m.nodes.capacity() * std::mem::size_of::<Node>()
            + m.stack.capacity() * std::mem::size_of::<Slot>();
        assert!(
            real <= 2 * m.limit,
            "{real} bytes allocated for a {} limit",
            m.limit
        );
        // Shared immutables cost a stack slot each, not a node.
        let mut nones = vec![0x80, 2, b'('];
        nones.resize(500_000, b'N');
        nones.extend_from_slice(b"l.");
        let v = parse_keys(&nones, &[]).unwrap();
        assert!(matches!(v, Value::List(_)) || matches!(v, Value::Dict(_)));
    }

    #[test]
    fn reads_a_small_protocol2_dict() {
        // pickle.dumps({'epoch': 7, 'metric': float('nan'), 'l': [1, -2]}, protocol=2)
        let mut p = vec![0x80, 2, b'}', b'q', 0, b'('];
        p.extend([b'X', 5, 0, 0, 0]);
        p.extend(b"epoch");
        p.extend([b'K', 7]);
        p.extend([b'X', 6, 0, 0, 0]);
        p.extend(b"metric");
        p.push(b'G');
        p.extend(f64::NAN.to_be_bytes());
        p.extend([0x8c, 1, b'l', b']', b'(', b'K', 1, b'J']);
        p.extend((-2i32).to_le_bytes());
        p.extend([b'e', b'u', b'.']);
        let v = parse(&p).unwrap();
        assert_eq!(v.get("epoch").and_then(Value::as_i64), Some(7));
        assert!(v.get("metric").and_then(Value::as_f64).unwrap().is_nan());
        assert_eq!(
            v.get("l"),
            Some(&Value::List(vec![Value::Int(1), Value::Int(-2)]))
        );
    }

    #[test]
    fn memo_shares_a_dict_filled_after_memoizing() {
        // d = {}; [d, d] with d filled after the first reference
        let p = [
            0x80, 2, b']', b'q', 0, b'(', b'}', b'q', 1, b'h', 1, b'e', b'h', 1, 0x8c, 1, b'k',
            b'K', 3, b's', b'0', b'.',
        ];
        let v = parse(&p).unwrap();
        let d = Value::Dict(vec![(Value::Str("k".into()), Value::Int(3))]);
        assert_eq!(v, Value::List(vec![d.clone(), d]));
    }

    #[test]
    fn long1_negative_and_unknown_opcode() {
        assert_eq!(parse(&[0x8a, 1, 0xff, b'.']).unwrap(), Value::Int(-1));
        assert!(parse(&[0x80, 2, 0xfe]).is_err());
        assert!(parse(&[]).is_err());
        assert!(parse(b".").is_err());
    }

    #[test]
    fn self_referencing_list_is_an_error_not_a_hang() {
        // l = []; l.append(l)
        let p = [b']', b'q', 0, b'h', 0, b'a', b'.'];
        assert!(parse(&p).is_err());
    }
}
