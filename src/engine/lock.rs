//! The run lock (rule 1): exclusive flock on `.ckpt/lock`, holder pid and operation recorded.
