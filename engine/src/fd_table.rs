//! An engine thread's own file table.
//!
//! The kernel looks up the fd of every send, recv and epoll_wait. While the
//! table is shared by several threads each lookup takes and drops a
//! reference on the file, two atomics per syscall; a table used by one
//! thread alone skips them (fdget's single-user path: measured, fdget and
//! fput fell from 2.1 % to 1.4 % of lps's CPU; the bare epoll loop: 1.1 %).
//!
//! The private table starts as a copy of the shared one: the runtime's fds,
//! which other threads use to wake it, must be in both, so the copy is taken
//! once the runtime is built. The copies of the process's TCP sockets (a
//! node's gRPC streams, the dashboard's listener and browsers) are closed
//! in it, or a socket the node closes during the run would stay open until
//! the thread ends. Nothing else in the runtime or the plan is a TCP socket,
//! and the engine opens its own connections only afterwards.

use std::os::fd::RawFd;

/// Gives the calling thread a file table of its own; see the module doc.
/// Does nothing if the kernel refuses.
pub fn take_own() {
    // SAFETY: unshare(CLONE_FILES) replaces only this thread's fd table,
    // with a copy in which every fd refers to the same file as before.
    if unsafe { libc::unshare(libc::CLONE_FILES) } != 0 {
        return;
    }
    let Ok(dir) = std::fs::read_dir("/proc/thread-self/fd") else {
        return;
    };
    let fds: Vec<RawFd> = dir
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    for fd in fds {
        if is_tcp_socket(fd) {
            // SAFETY: a copy in this thread's private table of a socket
            // another thread opened; no code on this thread holds it.
            unsafe {
                libc::close(fd);
            }
        }
    }
}

/// An IPv4 or IPv6 stream socket.
fn is_tcp_socket(fd: RawFd) -> bool {
    // SAFETY: getsockname and getsockopt write at most the lengths passed.
    unsafe {
        let mut addr: libc::sockaddr_storage = std::mem::zeroed();
        let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        if libc::getsockname(fd, (&raw mut addr).cast(), &mut len) != 0 {
            return false;
        }
        let family = i32::from(addr.ss_family);
        if family != libc::AF_INET && family != libc::AF_INET6 {
            return false;
        }
        let mut kind: libc::c_int = 0;
        let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_TYPE,
            (&raw mut kind).cast(),
            &mut len,
        ) == 0
            && kind == libc::SOCK_STREAM
    }
}
