// mimalloc: the engine allocates little per request, but snapshot swaps,
// HTTP/2 requests and the target's responses do, on several threads at once;
// mimalloc's per-thread heaps keep that off a shared lock.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    lps::main(std::env::args_os().map(|a| a.to_string_lossy().into_owned()))
}
