//! CDN health scoring (work in progress).
