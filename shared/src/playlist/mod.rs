//! HLS playlists: a lossless, line-oriented model that rewrites URIs (work in progress).
