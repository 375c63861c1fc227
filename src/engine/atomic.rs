//! Atomic file writes (DESIGN §3 rules 2, 3, 7, 8): unique O_EXCL temp in the
//! destination's directory, hash while writing, fsync, rename, directory fsync.
