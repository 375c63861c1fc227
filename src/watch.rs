//! File events / polling → "run changed" messages for the monitor (issue 4).
