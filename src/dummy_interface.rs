//! The address a node-local instance in the node's network answers at (`--dummy-interface`):
//! a dummy interface holding the listen addresses, as NodeLocal DNSCache's `nodelocaldns`.
//!
//! It is made with two rtnetlink requests (a new link of kind `dummy`, set up; a new address
//! on it), each acknowledged by the kernel. Both are idempotent: an interface or address that
//! is already there is what we wanted. Nothing is removed at exit, so that the instance
//! replacing this one (`--reuse-port`) keeps answering at the same address.

use std::ffi::CString;
use std::io;
use std::net::IpAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

const NLMSG_ERROR: u16 = 2;
const RTM_NEWLINK: u16 = 16;
const RTM_NEWADDR: u16 = 20;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_EXCL: u16 = 0x200;
const NLM_F_CREATE: u16 = 0x400;
const IFLA_IFNAME: u16 = 3;
const IFLA_LINKINFO: u16 = 18;
const IFLA_INFO_KIND: u16 = 1;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
/// No duplicate address detection: a tentative IPv6 address cannot be bound.
const IFA_F_NODAD: u8 = 0x2;
const IFF_UP: u32 = 0x1;
const NLA_F_NESTED: u16 = 0x8000;

/// Makes the dummy interface `name` (unless an interface of that name exists), sets it up, and
/// adds `addresses` to it (those it lacks). Needs CAP_NET_ADMIN in the network namespace.
pub fn ensure(name: &str, addresses: &[IpAddr]) -> io::Result<()> {
    let socket = Netlink::open()?;
    let mut link = Message::new(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
    link.ifinfo(0, 0, 0);
    link.attribute(IFLA_IFNAME, &nul_terminated(name));
    let kind = link.begin_nested(IFLA_LINKINFO);
    link.attribute(IFLA_INFO_KIND, b"dummy");
    link.end_nested(kind);
    ignore_exists(socket.request(&mut link)).map_err(|e| {
        let why = match e.raw_os_error() {
            Some(libc::EOPNOTSUPP) => " (this kernel has no dummy interface driver: load the module \
                `dummy`, or create the interface beforehand)"
                .to_string(),
            _ => String::new(),
        };
        context(e, format!("cannot create interface {name}{why}"))
    })?;

    let index = interface_index(name)?;
    let mut up = Message::new(RTM_NEWLINK, 0);
    up.ifinfo(index, IFF_UP, IFF_UP);
    socket.request(&mut up).map_err(|e| context(e, format!("cannot set interface {name} up")))?;

    for address in addresses {
        let mut add = Message::new(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL);
        let bytes = match address {
            IpAddr::V4(v4) => v4.octets().to_vec(),
            IpAddr::V6(v6) => v6.octets().to_vec(),
        };
        let (family, prefix) = if address.is_ipv4() { (libc::AF_INET, 32) } else { (libc::AF_INET6, 128) };
        add.ifaddr(family as u8, prefix, IFA_F_NODAD, index);
        add.attribute(IFA_LOCAL, &bytes);
        add.attribute(IFA_ADDRESS, &bytes);
        ignore_exists(socket.request(&mut add))
            .map_err(|e| context(e, format!("cannot add {address} to interface {name}")))?;
    }
    Ok(())
}

fn context(error: io::Error, what: String) -> io::Error {
    let permission = match error.raw_os_error() {
        Some(libc::EPERM | libc::EACCES) => " (this needs CAP_NET_ADMIN in this network namespace)",
        _ => "",
    };
    io::Error::new(error.kind(), format!("{what}: {error}{permission}"))
}

fn ignore_exists(result: io::Result<()>) -> io::Result<()> {
    match result {
        Err(e) if e.raw_os_error() == Some(libc::EEXIST) => Ok(()),
        other => other,
    }
}

fn nul_terminated(name: &str) -> Vec<u8> {
    let mut bytes = name.as_bytes().to_vec();
    bytes.push(0);
    bytes
}

fn interface_index(name: &str) -> io::Result<u32> {
    let c_name = CString::new(name).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: a valid NUL-terminated string.
    match unsafe { libc::if_nametoindex(c_name.as_ptr()) } {
        0 => Err(context(io::Error::last_os_error(), format!("interface {name} not found after creating it"))),
        index => Ok(index),
    }
}

/// One rtnetlink request: a header, a fixed part, and attributes, in the host's byte order.
struct Message {
    bytes: Vec<u8>,
}

impl Message {
    fn new(kind: u16, flags: u16) -> Message {
        let mut bytes = Vec::with_capacity(128);
        bytes.extend_from_slice(&0u32.to_ne_bytes()); // length, set when sent
        bytes.extend_from_slice(&kind.to_ne_bytes());
        bytes.extend_from_slice(&(flags | NLM_F_REQUEST | NLM_F_ACK).to_ne_bytes());
        bytes.extend_from_slice(&0u32.to_ne_bytes()); // sequence number, set when sent
        bytes.extend_from_slice(&0u32.to_ne_bytes()); // port id: the kernel's
        Message { bytes }
    }

    /// `struct ifinfomsg`.
    fn ifinfo(&mut self, index: u32, flags: u32, change: u32) {
        self.bytes.extend_from_slice(&[libc::AF_UNSPEC as u8, 0]);
        self.bytes.extend_from_slice(&0u16.to_ne_bytes()); // device type
        self.bytes.extend_from_slice(&index.to_ne_bytes());
        self.bytes.extend_from_slice(&flags.to_ne_bytes());
        self.bytes.extend_from_slice(&change.to_ne_bytes());
    }

    /// `struct ifaddrmsg`, with global scope.
    fn ifaddr(&mut self, family: u8, prefix: u8, flags: u8, index: u32) {
        self.bytes.extend_from_slice(&[family, prefix, flags, 0]);
        self.bytes.extend_from_slice(&index.to_ne_bytes());
    }

    fn attribute(&mut self, kind: u16, payload: &[u8]) {
        let length = u16::try_from(4 + payload.len()).expect("a short attribute");
        self.bytes.extend_from_slice(&length.to_ne_bytes());
        self.bytes.extend_from_slice(&kind.to_ne_bytes());
        self.bytes.extend_from_slice(payload);
        self.pad();
    }

    /// Starts a nested attribute; returns where its length goes.
    fn begin_nested(&mut self, kind: u16) -> usize {
        let at = self.bytes.len();
        self.bytes.extend_from_slice(&0u16.to_ne_bytes());
        self.bytes.extend_from_slice(&(kind | NLA_F_NESTED).to_ne_bytes());
        at
    }

    fn end_nested(&mut self, at: usize) {
        let length = u16::try_from(self.bytes.len() - at).expect("a short attribute");
        self.bytes[at..at + 2].copy_from_slice(&length.to_ne_bytes());
    }

    fn pad(&mut self) {
        while !self.bytes.len().is_multiple_of(4) {
            self.bytes.push(0);
        }
    }
}

struct Netlink {
    fd: OwnedFd,
}

impl Netlink {
    fn open() -> io::Result<Netlink> {
        // SAFETY: plain socket(2); the descriptor is owned from here on.
        let fd = unsafe { libc::socket(libc::AF_NETLINK, libc::SOCK_RAW | libc::SOCK_CLOEXEC, libc::NETLINK_ROUTE) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: a descriptor socket(2) just returned, owned by nobody else.
        Ok(Netlink { fd: unsafe { OwnedFd::from_raw_fd(fd) } })
    }

    /// Sends `message` and waits for the kernel's acknowledgement: Ok, or the errno it reports.
    fn request(&self, message: &mut Message) -> io::Result<()> {
        static SEQUENCE: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(1);
        let sequence = SEQUENCE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let length = u32::try_from(message.bytes.len()).expect("a short message");
        message.bytes[0..4].copy_from_slice(&length.to_ne_bytes());
        message.bytes[8..12].copy_from_slice(&sequence.to_ne_bytes());
        let fd = self.fd.as_raw_fd();
        // SAFETY: the buffer is valid for its length; the kernel is the default destination.
        let sent = unsafe { libc::send(fd, message.bytes.as_ptr().cast(), message.bytes.len(), 0) };
        if sent < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut reply = [0u8; 4096];
        loop {
            // SAFETY: the buffer is valid for its length.
            let received = unsafe { libc::recv(fd, reply.as_mut_ptr().cast(), reply.len(), 0) };
            let received = usize::try_from(received).map_err(|_| io::Error::last_os_error())?;
            if let Some(result) = acknowledgement(&reply[..received], sequence) {
                return result;
            }
        }
    }
}

/// The outcome an NLMSG_ERROR reply to `sequence` in `reply` carries (error 0 is the
/// acknowledgement); `None` for any other message.
fn acknowledgement(reply: &[u8], sequence: u32) -> Option<io::Result<()>> {
    let u32_at = |at: usize| reply.get(at..at + 4).map(|b| u32::from_ne_bytes(b.try_into().expect("4 bytes")));
    let kind = u16::from_ne_bytes(reply.get(4..6)?.try_into().ok()?);
    if kind != NLMSG_ERROR || u32_at(8)? != sequence {
        return None;
    }
    let error = u32_at(16)? as i32;
    Some(if error == 0 { Ok(()) } else { Err(io::Error::from_raw_os_error(-error)) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_acknowledgement_carries_the_kernels_errno() {
        let reply = |kind: u16, sequence: u32, error: i32| {
            let mut bytes = 36u32.to_ne_bytes().to_vec();
            bytes.extend_from_slice(&kind.to_ne_bytes());
            bytes.extend_from_slice(&0u16.to_ne_bytes());
            bytes.extend_from_slice(&sequence.to_ne_bytes());
            bytes.extend_from_slice(&0u32.to_ne_bytes());
            bytes.extend_from_slice(&error.to_ne_bytes());
            bytes
        };
        assert!(matches!(acknowledgement(&reply(NLMSG_ERROR, 7, 0), 7), Some(Ok(()))));
        let exists = acknowledgement(&reply(NLMSG_ERROR, 7, -libc::EEXIST), 7).unwrap();
        assert!(ignore_exists(exists).is_ok(), "an interface or address already there is what was asked");
        let denied = acknowledgement(&reply(NLMSG_ERROR, 7, -libc::EPERM), 7).unwrap().unwrap_err();
        assert_eq!(denied.raw_os_error(), Some(libc::EPERM));
        assert!(acknowledgement(&reply(NLMSG_ERROR, 8, 0), 7).is_none(), "another request's reply");
        assert!(acknowledgement(&reply(RTM_NEWLINK, 7, 0), 7).is_none(), "not an acknowledgement");
    }
}
