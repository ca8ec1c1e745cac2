//! LL-HLS playlists, written from the [`crate::timeline`]. (Being built.)
