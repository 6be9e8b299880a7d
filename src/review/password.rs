//! The review page's password file: one `name:salt:hash` line per reviewer, never a password.
//!
//! `salt` is `pbkdf2-sha256$ITERATIONS$SALT_HEX` and `hash` the hex of PBKDF2-HMAC-SHA256 of the
//! password with that salt and iteration count (RFC 8018, 32-byte key), so the file says how each
//! hash was made and a later edge-screen can raise the count without breaking old lines.
//! `edge-screen review passwd NAME --file F` writes a line; lines starting with `#` are comments.

use crate::records::review::check_reviewer;
use sha2::{Digest, Sha256};
use std::path::Path;

/// Iterations for new hashes (about 0.1 s on a kiosk board: slow to guess, quick to log in).
pub const ITERATIONS: u32 = 100_000;
/// Fewest iterations a line may claim (a weaker line is refused when the file is loaded).
pub const MIN_ITERATIONS: u32 = 10_000;
const SCHEME: &str = "pbkdf2-sha256";
const SALT_BYTES: usize = 16;

/// One reviewer's line.
#[derive(Debug, Clone, PartialEq)]
pub struct Credential {
    /// The reviewer's name (what reviews record).
    pub name: String,
    iterations: u32,
    salt: Vec<u8>,
    hash: [u8; 32],
}

impl Credential {
    /// A new line for `name` with a fresh random salt.
    pub fn new(name: &str, password: &str) -> Result<Credential, String> {
        check_reviewer(name)?;
        if password.is_empty() {
            return Err("the password is empty".into());
        }
        let salt = random_bytes(SALT_BYTES)?;
        let hash = pbkdf2_sha256(password.as_bytes(), &salt, ITERATIONS);
        Ok(Credential {
            name: name.to_string(),
            iterations: ITERATIONS,
            salt,
            hash,
        })
    }

    /// The `name:salt:hash` line (without the newline).
    pub fn line(&self) -> String {
        format!(
            "{}:{SCHEME}${}${}:{}",
            self.name,
            self.iterations,
            hex(&self.salt),
            hex(&self.hash)
        )
    }

    /// Parses a line; the error says what is wrong with it.
    pub fn parse(line: &str) -> Result<Credential, String> {
        let mut fields = line.split(':');
        let (Some(name), Some(salt), Some(hash), None) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            return Err("not name:salt:hash".into());
        };
        check_reviewer(name)?;
        let mut parts = salt.split('$');
        let (Some(SCHEME), Some(iter), Some(salt_hex), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(format!("salt field: expected {SCHEME}$ITERATIONS$SALT_HEX"));
        };
        let iterations: u32 = iter
            .parse()
            .map_err(|_| format!("iterations {iter:?} is not a whole number"))?;
        if iterations < MIN_ITERATIONS {
            return Err(format!(
                "{iterations} iterations is too few (at least {MIN_ITERATIONS})"
            ));
        }
        let salt = unhex(salt_hex).ok_or("the salt is not hex")?;
        let hash: [u8; 32] = unhex(hash)
            .and_then(|h| h.try_into().ok())
            .ok_or("the hash is not 64 hex digits")?;
        Ok(Credential {
            name: name.to_string(),
            iterations,
            salt,
            hash,
        })
    }

    /// Whether `password` is this reviewer's (compared in constant time).
    pub fn verify(&self, password: &str) -> bool {
        let h = pbkdf2_sha256(password.as_bytes(), &self.salt, self.iterations);
        h.iter().zip(&self.hash).fold(0u8, |d, (a, b)| d | (a ^ b)) == 0
    }
}

/// Loads a password file; an error names the file and the line.
pub fn load(path: &Path) -> Result<Vec<Credential>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut out: Vec<Credential> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let c = Credential::parse(line)
            .map_err(|e| format!("{}: line {}: {e}", path.display(), i + 1))?;
        out.retain(|o| o.name != c.name);
        out.push(c);
    }
    if out.is_empty() {
        return Err(format!(
            "{}: no reviewers (add one with `edge-screen review passwd NAME --file {}`)",
            path.display(),
            path.display()
        ));
    }
    Ok(out)
}

/// Adds or replaces `cred`'s line in `path` (created, mode 0600, if missing), atomically.
pub fn store(path: &Path, cred: &Credential) -> Result<(), String> {
    let named = |e: std::io::Error| format!("{}: {e}", path.display());
    let old = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(named(e)),
    };
    let prefix = format!("{}:", cred.name);
    let mut text: String = old
        .lines()
        .filter(|l| !l.trim().starts_with(&prefix))
        .map(|l| format!("{l}\n"))
        .collect();
    text.push_str(&cred.line());
    text.push('\n');
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = std::path::PathBuf::from(tmp);
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(named)?;
        f.write_all(text.as_bytes()).map_err(named)?;
        f.sync_all().map_err(named)?;
    }
    std::fs::rename(&tmp, path).map_err(named)
}

/// `n` bytes from the kernel's random source (`/dev/urandom`).
pub fn random_bytes(n: usize) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let mut buf = vec![0u8; n];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .map_err(|e| format!("/dev/urandom: {e}"))?;
    Ok(buf)
}

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 || s.is_empty() {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

fn hmac_sha256(key: &[u8], msg: &[&[u8]]) -> [u8; 32] {
    let mut k = [0u8; 64];
    if key.len() > 64 {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha256::new();
    inner.update(k.map(|b| b ^ 0x36));
    for m in msg {
        inner.update(m);
    }
    let mut outer = Sha256::new();
    outer.update(k.map(|b| b ^ 0x5c));
    outer.update(inner.finalize());
    outer.finalize().into()
}

/// PBKDF2-HMAC-SHA256 with a 32-byte output (one block).
fn pbkdf2_sha256(password: &[u8], salt: &[u8], iterations: u32) -> [u8; 32] {
    let mut u = hmac_sha256(password, &[salt, &1u32.to_be_bytes()]);
    let mut t = u;
    for _ in 1..iterations {
        u = hmac_sha256(password, &[&u]);
        for (a, b) in t.iter_mut().zip(u) {
            *a ^= b;
        }
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc_4231_case_2() {
        let mac = hmac_sha256(b"Jefe", &[b"what do ya want ", b"for nothing?"]);
        assert_eq!(
            hex(&mac),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn pbkdf2_matches_published_vectors() {
        // RFC 7914 section 11 (PBKDF2-HMAC-SHA256, first 32 bytes).
        assert_eq!(
            hex(&pbkdf2_sha256(b"passwd", b"salt", 1)),
            "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc"
        );
        // A widely published vector: "password", "salt", 4096 iterations.
        assert_eq!(
            hex(&pbkdf2_sha256(b"password", b"salt", 4096)),
            "c5e478d59288c841aa530db6845c4c8d962893a001ce4e11a4963873aa98134a"
        );
    }

    #[test]
    fn a_line_round_trips_and_verifies_only_its_password() {
        let c = Credential::new("ana", "correct horse").unwrap();
        let line = c.line();
        assert!(!line.contains("correct horse"));
        assert_eq!(line.split(':').count(), 3, "{line}");
        let back = Credential::parse(&line).unwrap();
        assert_eq!(back, c);
        assert!(back.verify("correct horse"));
        assert!(!back.verify("correct horsE"));
        // Two lines for the same password differ (random salt).
        assert_ne!(
            Credential::new("ana", "correct horse").unwrap().line(),
            line
        );
    }

    #[test]
    fn bad_lines_say_what_is_wrong() {
        let cases = [
            ("ana:plaintext", "not name:salt:hash"),
            ("ana:md5$1$00:00", "salt field"),
            ("ana:pbkdf2-sha256$10$00:00", "too few"),
            ("ana:pbkdf2-sha256$20000$zz:00", "salt is not hex"),
            ("ana:pbkdf2-sha256$20000$00:0011", "64 hex digits"),
        ];
        for (line, want) in cases {
            let e = Credential::parse(line).unwrap_err();
            assert!(e.contains(want), "{line}: {e}");
        }
    }

    #[test]
    fn the_file_is_written_private_and_a_name_replaced() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("reviewers");
        store(&f, &Credential::new("ana", "one").unwrap()).unwrap();
        store(&f, &Credential::new("ben", "two").unwrap()).unwrap();
        store(&f, &Credential::new("ana", "three").unwrap()).unwrap();
        let mode = std::fs::metadata(&f).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let creds = load(&f).unwrap();
        assert_eq!(creds.len(), 2);
        let ana = creds.iter().find(|c| c.name == "ana").unwrap();
        assert!(ana.verify("three") && !ana.verify("one"));
        std::fs::write(&f, "# nobody\n").unwrap();
        assert!(load(&f).unwrap_err().contains("no reviewers"));
        std::fs::write(&f, "ana:x:y\n").unwrap();
        let e = load(&f).unwrap_err();
        assert!(e.contains("line 1") && e.contains("reviewers"), "{e}");
    }
}
