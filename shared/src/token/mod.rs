//! Ticket and session tokens (work in progress).
