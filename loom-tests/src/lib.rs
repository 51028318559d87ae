//! Loom models of weftwork live in `tests/`; run them with `RUSTFLAGS="--cfg loom" cargo test -p weftwork-loom-tests --release`.
