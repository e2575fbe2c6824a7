//! The card's file system: an MF/DF/EF tree with FCP-defined files, PIN/secret key records
//! per DF, and internal key EFs holding RSA/EC key material.

use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::apdu::read_tlv;

/// Secret bytes: zeroized on drop, never printed.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
pub struct SecretBytes(pub Vec<u8>);

impl std::fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretBytes(<{} bytes redacted>)", self.0.len())
    }
}

/// A key installed with INSTALL SECRET KEY (protocol §5.10).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRecord {
    /// Key type: 01 SM-ENC, 02 SM-MAC, 04 PIN key (24-byte 3DES), 06 plain PIN.
    pub key_type: u8,
    /// Key id.
    pub kid: u8,
    /// Record bytes 2..=8 (use AC, modify AC, 2 unknown, 00, level, FF).
    pub attrs: [u8; 7],
    /// Maximum tries (high nibble of byte 9); 0 = no counter.
    pub max_tries: u8,
    /// Remaining tries.
    pub remaining: u8,
    /// The key value.
    pub value: SecretBytes,
}

impl KeyRecord {
    /// Use AC (record byte 2).
    pub fn use_ac(&self) -> u8 {
        self.attrs[0]
    }
    /// Modify AC (record byte 3).
    pub fn modify_ac(&self) -> u8 {
        self.attrs[1]
    }
    /// Security level granted on success (record byte 7).
    pub fn level(&self) -> u8 {
        self.attrs[5] & 0x0F
    }
    /// Whether the key is blocked.
    pub fn blocked(&self) -> bool {
        self.max_tries != 0 && self.remaining == 0
    }
}

/// Asymmetric key material in an internal EF.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyMaterial {
    /// RSA modulus (big-endian, no leading zeros), if set.
    pub n: Option<Vec<u8>>,
    /// RSA public exponent, if known.
    pub e: Option<Vec<u8>>,
    /// RSA private exponent (secret).
    pub d: Option<SecretBytes>,
    /// EC private scalar, 32 bytes (secret).
    pub ec_d: Option<SecretBytes>,
    /// EC public point X ‖ Y (64 bytes).
    pub ec_xy: Option<Vec<u8>>,
}

/// What a file is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum FileKind {
    /// MF or DF.
    Df {
        /// DF name (tag 84).
        name: Vec<u8>,
        /// Child files.
        children: Vec<FileNode>,
        /// Keys installed into this DF.
        keys: Vec<KeyRecord>,
    },
    /// Transparent EF.
    Transparent {
        /// Contents (its length is the file size).
        data: Vec<u8>,
    },
    /// Linear (fixed or variable) record EF.
    Linear {
        /// Maximum record length.
        max_rec: usize,
        /// Records, numbered from 1.
        records: Vec<Vec<u8>>,
    },
    /// BSO (key container).
    Bso,
    /// Internal key EF (FDB 11/12/13/14).
    Key {
        /// Key size in bits as created (tag 85).
        bits: u16,
        /// Material, once generated or imported.
        material: KeyMaterial,
    },
}

/// One file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileNode {
    /// File identifier.
    pub fid: u16,
    /// File descriptor byte (tag 82, first byte).
    pub fdb: u8,
    /// The eight AC bytes (tag 86).
    pub acs: [u8; 8],
    /// The FCP's inner TLVs as received with CREATE FILE.
    pub fcp: Vec<u8>,
    /// Kind and contents.
    pub kind: FileKind,
}

/// FDB values.
pub mod fdb {
    /// DF / MF.
    pub const DF: u8 = 0x38;
    /// Transparent EF.
    pub const TRANSPARENT: u8 = 0x01;
    /// Linear fixed EF.
    pub const LINEAR_FIXED: u8 = 0x02;
    /// Linear variable EF.
    pub const LINEAR_VARIABLE: u8 = 0x04;
    /// BSO.
    pub const BSO: u8 = 0x10;
    /// RSA private key.
    pub const RSA_PRIV: u8 = 0x11;
    /// RSA public key.
    pub const RSA_PUB: u8 = 0x12;
    /// EC private key.
    pub const EC_PRIV: u8 = 0x13;
    /// EC public key.
    pub const EC_PUB: u8 = 0x14;
}

/// Why a FCP could not be turned into a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FcpError {
    /// Malformed or inconsistent FCP (6A80).
    Bad,
    /// File too large (6A84).
    TooLarge,
}

/// Largest transparent EF accepted (READ BINARY offsets are 15 bits).
pub const MAX_EF_SIZE: usize = 0x7FFF;

/// The emulated card's default memory capacity: 64 KiB (the ePass2003 is sold as a 64 KB
/// token), charged as [`FileNode::cost`] summed over the file tree (**emulator choice**, see
/// `docs/protocol-notes.md`, decision 10).
pub const DEFAULT_CAPACITY: usize = 64 * 1024;

/// What each file (MF, DF, EF, BSO, key EF) costs besides its body: its header (FCP, ACs).
pub const FILE_OVERHEAD: usize = 32;

impl FileNode {
    /// Builds a file from a CREATE FILE data field (`62 L <TLVs>`).
    pub fn from_fcp(data: &[u8]) -> Result<FileNode, FcpError> {
        let (tag, inner, rest) = read_tlv(data).ok_or(FcpError::Bad)?;
        if tag != 0x62 || !rest.is_empty() {
            return Err(FcpError::Bad);
        }
        // The FCI must stay below 128 bytes: 6F L <inner> 8A 01 05.
        if inner.len() + 3 > 0x7F {
            return Err(FcpError::Bad);
        }
        let mut size: Option<usize> = None;
        let mut fdb_v: Option<&[u8]> = None;
        let mut fid: Option<u16> = None;
        let mut name: Option<Vec<u8>> = None;
        let mut prop85: Option<&[u8]> = None;
        let mut acs = [0x90u8; 8];
        let mut r = inner;
        while !r.is_empty() {
            let (t, v, rr) = read_tlv(r).ok_or(FcpError::Bad)?;
            match t {
                0x80 | 0x81 if size.is_none() => {
                    size = Some(match v {
                        [a] => *a as usize,
                        [a, b, ..] => u16::from_be_bytes([*a, *b]) as usize,
                        _ => return Err(FcpError::Bad),
                    })
                }
                0x82 => fdb_v = Some(v),
                0x83 => {
                    if v.len() != 2 {
                        return Err(FcpError::Bad);
                    }
                    fid = Some(u16::from_be_bytes([v[0], v[1]]));
                }
                0x84 => {
                    if v.is_empty() || v.len() > 16 {
                        return Err(FcpError::Bad);
                    }
                    name = Some(v.to_vec());
                }
                0x85 => prop85 = Some(v),
                0x86 => {
                    if v.len() != 8 {
                        return Err(FcpError::Bad);
                    }
                    acs.copy_from_slice(v);
                }
                _ => {}
            }
            r = rr;
        }
        let fdb_v = fdb_v.ok_or(FcpError::Bad)?;
        let fid = fid.ok_or(FcpError::Bad)?;
        let fdb_b = *fdb_v.first().ok_or(FcpError::Bad)?;
        let kind = match fdb_b {
            fdb::DF => FileKind::Df {
                name: name.unwrap_or_default(),
                children: Vec::new(),
                keys: Vec::new(),
            },
            fdb::TRANSPARENT => {
                let s = size.ok_or(FcpError::Bad)?;
                if s > MAX_EF_SIZE {
                    return Err(FcpError::TooLarge);
                }
                FileKind::Transparent { data: vec![0; s] }
            }
            fdb::LINEAR_FIXED | fdb::LINEAR_VARIABLE => {
                // 82 05 FDB DCB <max record length 2> <count>
                let max_rec = match fdb_v {
                    [_, _, a, b, ..] => u16::from_be_bytes([*a, *b]) as usize,
                    [_, _, a] => *a as usize,
                    _ => 0xFF,
                };
                FileKind::Linear {
                    max_rec: if max_rec == 0 { 0xFF } else { max_rec },
                    records: Vec::new(),
                }
            }
            fdb::BSO => FileKind::Bso,
            fdb::RSA_PRIV | fdb::RSA_PUB | fdb::EC_PRIV | fdb::EC_PUB => {
                let bits = match prop85 {
                    Some([a, b]) => u16::from_be_bytes([*a, *b]),
                    _ => return Err(FcpError::Bad),
                };
                FileKind::Key {
                    bits,
                    material: KeyMaterial::default(),
                }
            }
            _ => return Err(FcpError::Bad),
        };
        if fid == 0x3F00 && fdb_b != fdb::DF {
            return Err(FcpError::Bad);
        }
        Ok(FileNode {
            fid,
            fdb: fdb_b,
            acs,
            fcp: inner.to_vec(),
            kind,
        })
    }

    /// The memory this file takes, without its children: [`FILE_OVERHEAD`] plus its body.
    /// Body: a transparent EF its size (allocated at CREATE FILE); a record EF the records
    /// written; an RSA private-key EF 2 × bits/8 (n and d), an RSA public-key EF bits/8 + 4
    /// (n and e), an EC private-key EF bits/8 (d), an EC public-key EF 2 × bits/8 (X ‖ Y), all
    /// fixed by the size given at CREATE FILE; a DF or a BSO nothing (PIN and SM key records
    /// live in the DF's header).
    pub fn cost(&self) -> usize {
        let body = match &self.kind {
            FileKind::Df { .. } | FileKind::Bso => 0,
            FileKind::Transparent { data } => data.len(),
            FileKind::Linear { records, .. } => records.iter().map(Vec::len).sum(),
            FileKind::Key { bits, .. } => {
                let b = (*bits as usize).div_ceil(8);
                match self.fdb {
                    fdb::RSA_PRIV => 2 * b,
                    fdb::RSA_PUB => b + 4,
                    fdb::EC_PRIV => b,
                    _ => 2 * b,
                }
            }
        };
        FILE_OVERHEAD + body
    }

    /// The memory this file and everything under it take ([`FileNode::cost`] summed).
    pub fn tree_cost(&self) -> usize {
        self.cost()
            + self
                .children()
                .iter()
                .map(FileNode::tree_cost)
                .sum::<usize>()
    }

    /// Whether this is a DF (or the MF).
    pub fn is_df(&self) -> bool {
        matches!(self.kind, FileKind::Df { .. })
    }

    /// The DF name, if a DF.
    pub fn df_name(&self) -> Option<&[u8]> {
        match &self.kind {
            FileKind::Df { name, .. } => Some(name),
            _ => None,
        }
    }

    /// Children (empty for EFs).
    pub fn children(&self) -> &[FileNode] {
        match &self.kind {
            FileKind::Df { children, .. } => children,
            _ => &[],
        }
    }

    /// Mutable children, if a DF.
    pub fn children_mut(&mut self) -> Option<&mut Vec<FileNode>> {
        match &mut self.kind {
            FileKind::Df { children, .. } => Some(children),
            _ => None,
        }
    }

    /// Keys of a DF.
    pub fn keys(&self) -> &[KeyRecord] {
        match &self.kind {
            FileKind::Df { keys, .. } => keys,
            _ => &[],
        }
    }

    /// Mutable keys, if a DF.
    pub fn keys_mut(&mut self) -> Option<&mut Vec<KeyRecord>> {
        match &mut self.kind {
            FileKind::Df { keys, .. } => Some(keys),
            _ => None,
        }
    }

    /// Child with a FID.
    pub fn child(&self, fid: u16) -> Option<&FileNode> {
        self.children().iter().find(|c| c.fid == fid)
    }

    /// Mutable child with a FID.
    pub fn child_mut(&mut self, fid: u16) -> Option<&mut FileNode> {
        self.children_mut()?.iter_mut().find(|c| c.fid == fid)
    }

    /// The FCI returned by SELECT: `6F L <stored TLVs, 80 = current size> [8A 01 05]`.
    pub fn fci(&self, life_cycle: bool) -> Vec<u8> {
        let mut inner = Vec::new();
        let mut r: &[u8] = &self.fcp;
        let mut has_8a = false;
        while let Some((t, v, rr)) = read_tlv(r) {
            if t == 0x80 {
                if let FileKind::Transparent { data } = &self.kind {
                    inner.push(0x80);
                    if v.len() == 1 && data.len() < 0x100 {
                        inner.extend_from_slice(&[1, data.len() as u8]);
                    } else {
                        inner.push(2);
                        inner.extend_from_slice(&(data.len() as u16).to_be_bytes());
                    }
                    r = rr;
                    continue;
                }
            }
            if t == 0x8A {
                has_8a = true;
            }
            let consumed = r.len() - rr.len();
            inner.extend_from_slice(&r[..consumed]);
            r = rr;
        }
        if life_cycle && !has_8a {
            inner.extend_from_slice(&[0x8A, 0x01, 0x05]);
        }
        let mut out = vec![0x6F, inner.len() as u8];
        out.extend_from_slice(&inner);
        out
    }
}

/// Resolves a path of FIDs (starting with the MF's) to a node.
pub fn node_at<'a>(mf: &'a FileNode, path: &[u16]) -> Option<&'a FileNode> {
    let (first, rest) = path.split_first()?;
    if *first != mf.fid {
        return None;
    }
    let mut n = mf;
    for fid in rest {
        n = n.child(*fid)?;
    }
    Some(n)
}

/// Mutable version of [`node_at`].
pub fn node_at_mut<'a>(mf: &'a mut FileNode, path: &[u16]) -> Option<&'a mut FileNode> {
    let (first, rest) = path.split_first()?;
    if *first != mf.fid {
        return None;
    }
    let mut n = mf;
    for fid in rest {
        n = n.child_mut(*fid)?;
    }
    Some(n)
}

/// Finds a DF by name anywhere in the tree; returns its path.
pub fn find_df_by_name(mf: &FileNode, name: &[u8]) -> Option<Vec<u16>> {
    fn walk(n: &FileNode, path: &mut Vec<u16>, name: &[u8]) -> Option<Vec<u16>> {
        path.push(n.fid);
        if n.df_name() == Some(name) {
            return Some(path.clone());
        }
        for c in n.children() {
            if c.is_df() {
                if let Some(p) = walk(c, path, name) {
                    return Some(p);
                }
            }
        }
        path.pop();
        None
    }
    walk(mf, &mut Vec::new(), name)
}

/// Whether any DF in the tree has this name.
pub fn df_name_exists(mf: &FileNode, name: &[u8]) -> bool {
    find_df_by_name(mf, name).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mf_fci_matches_document() {
        let fcp = hex::decode(
            "6226820238008302 3F00840E656E746572736166652D666970738502007F86089090FF90FFFFFFFF"
                .replace(' ', ""),
        )
        .expect("hex");
        let f = FileNode::from_fcp(&fcp).expect("mf");
        let fci = f.fci(false);
        assert_eq!(fci[0], 0x6F);
        assert_eq!(&fci[2..], &fcp[2..]);
        assert_eq!(f.fci(true).len(), fci.len() + 3);
    }

    #[test]
    fn sizes_and_types() {
        let aodf = hex::decode("621680021300820201008302440186089096FF96FFFFFFFF").expect("hex");
        let f = FileNode::from_fcp(&aodf).expect("aodf");
        assert!(matches!(&f.kind, FileKind::Transparent { data } if data.len() == 0x1300));
        let dir = hex::decode("62158205040000400083022F0086089090909 0FFFFFFFF".replace(' ', ""))
            .expect("hex");
        let f = FileNode::from_fcp(&dir).expect("dir");
        assert!(matches!(f.kind, FileKind::Linear { max_rec: 0x40, .. }));
        let pk =
            hex::decode("621A820212008302302085020800860890909090FFFFFFFF87020066").expect("hex");
        let f = FileNode::from_fcp(&pk).expect("pub");
        assert!(matches!(f.kind, FileKind::Key { bits: 2048, .. }));
        assert!(FileNode::from_fcp(&[0x62, 0x02, 0x82, 0x00]).is_err());
    }

    #[test]
    fn costs() {
        let f = |h: &str| FileNode::from_fcp(&hex::decode(h).expect("hex")).expect("fcp");
        // AODF: 0x1300 bytes.
        let aodf = f("621680021300820201008302440186089096FF96FFFFFFFF");
        assert_eq!(aodf.cost(), FILE_OVERHEAD + 0x1300);
        // RSA-2048 private and public key EFs.
        let prv = f("62168202110083022920850208008608FF909090FFFFFFFF");
        assert_eq!(prv.cost(), FILE_OVERHEAD + 512);
        let pubk = f("621A820212008302302085020800860890909090FFFFFFFF87020066");
        assert_eq!(pubk.cost(), FILE_OVERHEAD + 260);
        // EC P-256 private and public key EFs.
        let ecp = f("62168202130083022940850201008608FF909090FFFFFFFF");
        assert_eq!(ecp.cost(), FILE_OVERHEAD + 32);
        let ecq = f("621A820214008302304085020100860890909090FFFFFFFF87020066");
        assert_eq!(ecq.cost(), FILE_OVERHEAD + 64);
        // A DF costs its header, plus its children.
        let mut mf = f(
            "6226820238008302 3F00840E656E746572736166652D666970738502007F86089090FF90FFFFFFFF"
                .replace(' ', "")
                .as_str(),
        );
        assert_eq!(mf.tree_cost(), FILE_OVERHEAD);
        if let Some(ch) = mf.children_mut() {
            ch.push(aodf);
            ch.push(prv);
        }
        assert_eq!(mf.tree_cost(), 3 * FILE_OVERHEAD + 0x1300 + 512);
        // A record EF costs the records written.
        let mut dir = f("62158205040000400083022F008608909090 90FFFFFFFF"
            .replace(' ', "")
            .as_str());
        assert_eq!(dir.cost(), FILE_OVERHEAD);
        if let FileKind::Linear { records, .. } = &mut dir.kind {
            records.push(vec![0; 20]);
        }
        assert_eq!(dir.cost(), FILE_OVERHEAD + 20);
    }
}
