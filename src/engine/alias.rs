//! Aliases (rule 4): link/reflink/copy under a temp name, then rename over the alias;
//! the strategy that works is remembered per device.
