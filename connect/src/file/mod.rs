//! The file source's core: tailing the files that globs match, line by line, so that with
//! checkpoints of acknowledged positions every line is read exactly once across restarts and the
//! usual ways logs rotate.
//!
//! A file is known by its device and inode (a rename keeps them: the renamed file is read on from
//! where it was) and a fingerprint of its first bytes. The rules:
//! - **rename rotation** (`app.log` → `app.log.1`, a new `app.log`): the renamed file goes on
//!   from its position, even if the new name no longer matches (it is read through its open
//!   handle to the end); the new file is read from its start.
//! - **copytruncate** (`app.log` copied to `app.log.1`, then truncated): the copy starts with the
//!   original's fingerprint, so it is held dormant while the original lives; when the original
//!   is truncated, the copy is read from the position the original had reached, and the
//!   original again from 0.
//! - **a recreated file** (or a reused inode): a new fingerprint, read from the start.
//! - On a restart, a file goes on from its checkpoint if it still has the checkpoint's
//!   fingerprint; a file no checkpoint knows is read from the start (`read_from = end` applies
//!   only to the first start, without checkpoints).

mod fingerprint;
mod multiline;
mod sink;
mod source;
mod tailer;
mod watch;

pub use fingerprint::Fingerprint;
pub use multiline::Multiline;
pub use sink::{FileSink, FileSinkConfig, FileTarget};
pub use source::{FileSourceConfig, FileSourceStats, run_file_source};
pub(crate) use source::{LineHeaders, Processing, run_file_source_with};
pub use tailer::{Checkpoint, FileKey, Line, ReadFrom, Tailer, TailerConfig};
