//! A server a test starts as its child (moto, Azurite, fake-gcs-server): it prints its port on
//! its standard output and exits when its standard input closes, so that it goes when the test
//! process ends, however that ends; dropping a [`Server`] closes the pipe, and kills it if it
//! does not exit within a few seconds.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running server: the child process, and the loopback port it listens on.
pub struct Server {
    child: Child,
    pub port: u16,
}

impl Server {
    /// Starts `cmd` with its standard streams piped and reads its output until `port_of` finds
    /// the port in a line; panics naming `what` with what it printed if it ends first. Later
    /// output is read and dropped, so that it never fills the pipe.
    pub fn spawn(mut cmd: Command, what: &str, port_of: impl Fn(&str) -> Option<u16>) -> Server {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {what} ({cmd:?}): {e}"));
        let mut out = BufReader::new(child.stdout.take().expect("piped"));
        let mut seen = String::new();
        let port = loop {
            let mut line = String::new();
            if out.read_line(&mut line).unwrap_or(0) == 0 {
                let mut err = String::new();
                if let Some(mut stderr) = child.stderr.take() {
                    let _ = stderr.read_to_string(&mut err);
                }
                panic!("{what} exited before it listened: {seen}{err}");
            }
            seen.push_str(&line);
            if let Some(port) = port_of(line.trim()) {
                break port;
            }
        };
        std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
        if let Some(mut stderr) = child.stderr.take() {
            std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
        }
        Server { child, port }
    }

    /// Waits, 30 s at most, until `answers` says the server serves requests.
    pub fn wait_until(&self, what: &str, answers: impl Fn() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !answers() {
            assert!(
                Instant::now() < deadline,
                "{what} on port {} does not answer",
                self.port
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // Closing stdin stops it; kill in case it hangs.
        drop(self.child.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sets `vars` in this process, for the clients the tests make: called once, inside the
/// `OnceLock::get_or_init` of a server shared by a test process, before any client reads them
/// (the tests reach a client only through that server).
pub fn export(vars: Vec<(&'static str, String)>) {
    for (key, value) in vars {
        std::env::set_var(key, value);
    }
}
