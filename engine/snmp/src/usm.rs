//! The cryptography of the User-based Security Model: password to key and
//! key localisation (RFC 3414 section 2.6 and A.2), the HMAC authentication
//! protocols HMAC-MD5-96 and HMAC-SHA-96 (RFC 3414 sections 6 and 7) and
//! the HMAC-SHA-2 protocols of RFC 7860 (SHA-224/128, SHA-256/192,
//! SHA-384/256, SHA-512/384), and the privacy protocols CBC-DES
//! (RFC 3414 section 8) and CFB128-AES-128 (RFC 3826). The primitives are
//! RustCrypto's (`hmac`, `md-5`, `sha1`, `sha2`, `des` + `cbc`,
//! `aes` + `cfb-mode`).

use cbc::cipher::block_padding::NoPadding;
use cbc::cipher::{AsyncStreamCipher, BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use hmac::{Hmac, Mac};
use sha2::Digest;

/// An authentication protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthProtocol {
    /// usmHMACMD5AuthProtocol (RFC 3414).
    Md5,
    /// usmHMACSHAAuthProtocol (RFC 3414).
    Sha1,
    /// usmHMAC128SHA224AuthProtocol (RFC 7860).
    Sha224,
    /// usmHMAC192SHA256AuthProtocol (RFC 7860).
    Sha256,
    /// usmHMAC256SHA384AuthProtocol (RFC 7860).
    Sha384,
    /// usmHMAC384SHA512AuthProtocol (RFC 7860).
    Sha512,
}

impl AuthProtocol {
    /// Parses the names net-snmp uses (`MD5`, `SHA`, `SHA-224` … `SHA-512`).
    pub fn parse(s: &str) -> Option<AuthProtocol> {
        Some(match s.to_ascii_uppercase().as_str() {
            "MD5" => AuthProtocol::Md5,
            "SHA" | "SHA1" | "SHA-1" => AuthProtocol::Sha1,
            "SHA-224" | "SHA224" => AuthProtocol::Sha224,
            "SHA-256" | "SHA256" => AuthProtocol::Sha256,
            "SHA-384" | "SHA384" => AuthProtocol::Sha384,
            "SHA-512" | "SHA512" => AuthProtocol::Sha512,
            _ => return None,
        })
    }

    /// Octets of msgAuthenticationParameters (the truncated HMAC).
    pub fn mac_len(self) -> usize {
        match self {
            AuthProtocol::Md5 | AuthProtocol::Sha1 => 12,
            AuthProtocol::Sha224 => 16,
            AuthProtocol::Sha256 => 24,
            AuthProtocol::Sha384 => 32,
            AuthProtocol::Sha512 => 48,
        }
    }
}

/// A privacy protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PrivProtocol {
    /// usmDESPrivProtocol (RFC 3414 section 8).
    Des,
    /// usmAesCfb128Protocol (RFC 3826).
    Aes128,
}

impl PrivProtocol {
    /// Parses `DES` or `AES` / `AES-128`.
    pub fn parse(s: &str) -> Option<PrivProtocol> {
        Some(match s.to_ascii_uppercase().as_str() {
            "DES" => PrivProtocol::Des,
            "AES" | "AES128" | "AES-128" => PrivProtocol::Aes128,
            _ => return None,
        })
    }
}

fn digest(p: AuthProtocol, parts: &[&[u8]]) -> Vec<u8> {
    fn run<D: Digest>(parts: &[&[u8]]) -> Vec<u8> {
        let mut d = D::new();
        for x in parts {
            d.update(x);
        }
        d.finalize().to_vec()
    }
    match p {
        AuthProtocol::Md5 => run::<md5::Md5>(parts),
        AuthProtocol::Sha1 => run::<sha1::Sha1>(parts),
        AuthProtocol::Sha224 => run::<sha2::Sha224>(parts),
        AuthProtocol::Sha256 => run::<sha2::Sha256>(parts),
        AuthProtocol::Sha384 => run::<sha2::Sha384>(parts),
        AuthProtocol::Sha512 => run::<sha2::Sha512>(parts),
    }
}

/// Why a key or a cipher operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// RFC 3414 section 11.2: passwords shorter than 8 octets are refused.
    #[error("an SNMPv3 password must be at least 8 characters")]
    ShortPassword,
    /// The ciphertext length or the privacy parameters are wrong.
    #[error("decryption failed")]
    Decrypt,
}

/// Password to key (RFC 3414 A.2.1/A.2.2, RFC 7860 section 9.3): the digest
/// of the password repeated to 1,048,576 octets.
pub fn password_to_key(p: AuthProtocol, password: &[u8]) -> Result<Vec<u8>, CryptoError> {
    if password.len() < 8 {
        return Err(CryptoError::ShortPassword);
    }
    fn run<D: Digest>(password: &[u8]) -> Vec<u8> {
        let mut d = D::new();
        let mut chunk = [0u8; 64];
        let mut idx = 0usize;
        for _ in 0..(1_048_576 / 64) {
            for c in chunk.iter_mut() {
                *c = password[idx % password.len()];
                idx += 1;
            }
            d.update(chunk);
        }
        d.finalize().to_vec()
    }
    Ok(match p {
        AuthProtocol::Md5 => run::<md5::Md5>(password),
        AuthProtocol::Sha1 => run::<sha1::Sha1>(password),
        AuthProtocol::Sha224 => run::<sha2::Sha224>(password),
        AuthProtocol::Sha256 => run::<sha2::Sha256>(password),
        AuthProtocol::Sha384 => run::<sha2::Sha384>(password),
        AuthProtocol::Sha512 => run::<sha2::Sha512>(password),
    })
}

/// Key localisation (RFC 3414 section 2.6): H(Ku || engineID || Ku).
pub fn localize(p: AuthProtocol, key: &[u8], engine_id: &[u8]) -> Vec<u8> {
    digest(p, &[key, engine_id, key])
}

/// The truncated HMAC of `msg` under the localised key (RFC 3414 6.3.1 /
/// 7.3.1, RFC 7860 section 4).
pub fn hmac(p: AuthProtocol, key: &[u8], msg: &[u8]) -> Vec<u8> {
    macro_rules! run {
        ($d:ty) => {
            // HMAC takes keys of any length, so this never fails.
            match <Hmac<$d> as Mac>::new_from_slice(key) {
                Ok(mut m) => {
                    m.update(msg);
                    m.finalize().into_bytes().to_vec()
                }
                Err(_) => Vec::new(),
            }
        };
    }
    let mut out = match p {
        AuthProtocol::Md5 => run!(md5::Md5),
        AuthProtocol::Sha1 => run!(sha1::Sha1),
        AuthProtocol::Sha224 => run!(sha2::Sha224),
        AuthProtocol::Sha256 => run!(sha2::Sha256),
        AuthProtocol::Sha384 => run!(sha2::Sha384),
        AuthProtocol::Sha512 => run!(sha2::Sha512),
    };
    out.resize(p.mac_len(), 0);
    out
}

/// Constant-time comparison (a digest check must not leak where it differs).
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Encrypts a scoped PDU; `salt` is the 64-bit local value. Returns the
/// ciphertext and msgPrivacyParameters.
pub fn encrypt(
    p: PrivProtocol,
    key: &[u8],
    boots: u32,
    time: u32,
    salt: u64,
    plain: &[u8],
) -> (Vec<u8>, Vec<u8>) {
    match p {
        PrivProtocol::Des => {
            // RFC 3414 8.1.1.1: salt = boots || local integer; IV = pre-IV XOR salt.
            let mut s = [0u8; 8];
            s[..4].copy_from_slice(&boots.to_be_bytes());
            s[4..].copy_from_slice(&(salt as u32).to_be_bytes());
            let (k, iv) = des_key_iv(key, &s);
            let mut buf = plain.to_vec();
            buf.resize(plain.len().div_ceil(8) * 8, 0);
            let n = buf.len();
            let enc = cbc::Encryptor::<des::Des>::new(&k.into(), &iv.into());
            let out = enc
                .encrypt_padded_mut::<NoPadding>(&mut buf, n)
                .map(<[u8]>::to_vec)
                .unwrap_or_default();
            (out, s.to_vec())
        }
        PrivProtocol::Aes128 => {
            let s = salt.to_be_bytes();
            let iv = aes_iv(boots, time, &s);
            let mut k = [0u8; 16];
            k.copy_from_slice(key.get(..16).unwrap_or(&[0u8; 16]));
            let mut buf = plain.to_vec();
            cfb_mode::Encryptor::<aes::Aes128>::new(&k.into(), &iv.into()).encrypt(&mut buf);
            (buf, s.to_vec())
        }
    }
}

/// Decrypts msgData with msgPrivacyParameters `params`.
pub fn decrypt(
    p: PrivProtocol,
    key: &[u8],
    boots: u32,
    time: u32,
    params: &[u8],
    cipher: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    let s: [u8; 8] = params.try_into().map_err(|_| CryptoError::Decrypt)?;
    if key.len() < 16 {
        return Err(CryptoError::Decrypt);
    }
    match p {
        PrivProtocol::Des => {
            if cipher.is_empty() || cipher.len() % 8 != 0 {
                return Err(CryptoError::Decrypt);
            }
            let (k, iv) = des_key_iv(key, &s);
            let mut buf = cipher.to_vec();
            let dec = cbc::Decryptor::<des::Des>::new(&k.into(), &iv.into());
            dec.decrypt_padded_mut::<NoPadding>(&mut buf)
                .map(<[u8]>::to_vec)
                .map_err(|_| CryptoError::Decrypt)
        }
        PrivProtocol::Aes128 => {
            let iv = aes_iv(boots, time, &s);
            let mut k = [0u8; 16];
            k.copy_from_slice(&key[..16]);
            let mut buf = cipher.to_vec();
            cfb_mode::Decryptor::<aes::Aes128>::new(&k.into(), &iv.into()).decrypt(&mut buf);
            Ok(buf)
        }
    }
}

fn des_key_iv(key: &[u8], salt: &[u8; 8]) -> ([u8; 8], [u8; 8]) {
    let mut k = [0u8; 8];
    let mut iv = [0u8; 8];
    if key.len() >= 16 {
        k.copy_from_slice(&key[..8]);
        for i in 0..8 {
            iv[i] = key[8 + i] ^ salt[i];
        }
    }
    (k, iv)
}

fn aes_iv(boots: u32, time: u32, salt: &[u8; 8]) -> [u8; 16] {
    // RFC 3826 3.1.2.1: IV = boots || time || salt.
    let mut iv = [0u8; 16];
    iv[..4].copy_from_slice(&boots.to_be_bytes());
    iv[4..8].copy_from_slice(&time.to_be_bytes());
    iv[8..].copy_from_slice(salt);
    iv
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn rfc3414_a3_1_md5_key_localisation() {
        let ku = password_to_key(AuthProtocol::Md5, b"maplesyrup").unwrap();
        assert_eq!(ku, hex("9f af 32 83 88 4e 92 83 4e bc 98 47 d8 ed d9 63"));
        let kul = localize(
            AuthProtocol::Md5,
            &ku,
            &hex("00 00 00 00 00 00 00 00 00 00 00 02"),
        );
        assert_eq!(kul, hex("52 6f 5e ed 9f cc e2 6f 89 64 c2 93 07 87 d8 2b"));
    }

    #[test]
    fn rfc3414_a3_2_sha_key_localisation() {
        let ku = password_to_key(AuthProtocol::Sha1, b"maplesyrup").unwrap();
        assert_eq!(
            ku,
            hex("9f b5 cc 03 81 49 7b 37 93 52 89 39 ff 78 8d 5d 79 14 52 11")
        );
        let kul = localize(
            AuthProtocol::Sha1,
            &ku,
            &hex("00 00 00 00 00 00 00 00 00 00 00 02"),
        );
        assert_eq!(
            kul,
            hex("66 95 fe bc 92 88 e3 62 82 23 5f c7 15 1f 12 84 97 b3 8f 3f")
        );
    }

    #[test]
    fn short_passwords_are_refused() {
        assert_eq!(
            password_to_key(AuthProtocol::Sha1, b"short"),
            Err(CryptoError::ShortPassword)
        );
    }

    #[test]
    fn mac_lengths_follow_rfc_7860() {
        let k = [1u8; 64];
        for (p, n) in [
            (AuthProtocol::Md5, 12),
            (AuthProtocol::Sha1, 12),
            (AuthProtocol::Sha224, 16),
            (AuthProtocol::Sha256, 24),
            (AuthProtocol::Sha384, 32),
            (AuthProtocol::Sha512, 48),
        ] {
            assert_eq!(hmac(p, &k, b"x").len(), n);
        }
        // RFC 4231 test case 2 (HMAC-SHA-256, key "Jefe"), truncated to 24.
        let m = hmac(
            AuthProtocol::Sha256,
            b"Jefe",
            b"what do ya want for nothing?",
        );
        assert_eq!(m, hex("5bdcc146bf60754e6a042426089575c75a003f089d273983"));
    }

    #[test]
    fn privacy_round_trips() {
        let key = hex("66 95 fe bc 92 88 e3 62 82 23 5f c7 15 1f 12 84 97 b3 8f 3f");
        let plain = b"a scoped pdu of some 37 octets......".to_vec();
        for p in [PrivProtocol::Des, PrivProtocol::Aes128] {
            let (c, s) = encrypt(p, &key, 7, 99, 0x0102030405060708, &plain);
            assert_ne!(&c[..plain.len().min(c.len())], &plain[..]);
            let d = decrypt(p, &key, 7, 99, &s, &c).unwrap();
            assert_eq!(&d[..plain.len()], &plain[..]);
        }
        assert!(decrypt(PrivProtocol::Des, &key, 0, 0, &[0; 8], &[1, 2, 3]).is_err());
        assert!(decrypt(PrivProtocol::Aes128, &key, 0, 0, &[0; 7], &[1, 2, 3]).is_err());
    }
}
