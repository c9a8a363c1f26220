//! A client's JSON object body edited in place: top-level members dropped,
//! renamed, replaced or added, every other byte kept as it came (key order,
//! spacing, number spelling, unknown fields, nested values).
//!
//! The body is checked to be one valid JSON object by serde first; the
//! scanner then only finds where each top-level member starts and ends.

use std::borrow::Cow;

use crate::provider::rules::Params;

#[derive(Debug)]
struct Member {
    key: String,
    /// The key, quotes included.
    key_start: usize,
    key_end: usize,
    value_start: usize,
    value_end: usize,
    edit: Edit,
}

#[derive(Debug, Clone, PartialEq)]
enum Edit {
    Keep,
    Drop,
    Rename(String),
    Value(String),
}

/// A JSON object body and the edits made to it.
#[derive(Debug)]
pub struct RawObject<'a> {
    body: &'a [u8],
    members: Vec<Member>,
    /// Where the first member may be inserted (just after `{`).
    open: usize,
    /// Members added, as `"key":value` texts.
    added: Vec<String>,
}

impl<'a> RawObject<'a> {
    /// `Err` with a description when `body` is not one JSON object.
    pub fn parse(body: &'a [u8]) -> Result<RawObject<'a>, String> {
        serde_json::from_slice::<serde::de::IgnoredAny>(body)
            .map_err(|e| format!("not valid JSON: {e}"))?;
        let mut s = Scanner { body, at: 0 };
        s.space();
        if s.peek() != Some(b'{') {
            return Err("expected a JSON object".into());
        }
        s.at += 1;
        let open = s.at;
        let mut members = Vec::new();
        loop {
            s.space();
            match s.peek() {
                Some(b'}') => break,
                Some(b',') => {
                    s.at += 1;
                    continue;
                }
                Some(b'"') => {}
                _ => return Err("expected a member name".into()),
            }
            let key_start = s.at;
            s.string()?;
            let key_end = s.at;
            let key: String =
                serde_json::from_slice(&body[key_start..key_end]).map_err(|e| e.to_string())?;
            s.space();
            if s.peek() != Some(b':') {
                return Err("expected `:`".into());
            }
            s.at += 1;
            s.space();
            let value_start = s.at;
            s.value()?;
            members.push(Member {
                key,
                key_start,
                key_end,
                value_start,
                value_end: s.at,
                edit: Edit::Keep,
            });
        }
        Ok(RawObject {
            body,
            members,
            open,
            added: Vec::new(),
        })
    }

    fn live(&self) -> impl Iterator<Item = &Member> {
        self.members.iter().filter(|m| m.edit != Edit::Drop)
    }

    fn name(member: &Member) -> &str {
        match &member.edit {
            Edit::Rename(to) => to,
            _ => &member.key,
        }
    }

    /// The raw JSON text of a member's value, as the body has it now.
    pub fn value(&self, key: &str) -> Option<Cow<'_, str>> {
        let member = self.live().filter(|m| Self::name(m) == key).last()?;
        Some(match &member.edit {
            Edit::Value(text) => Cow::Borrowed(text.as_str()),
            _ => String::from_utf8_lossy(&self.body[member.value_start..member.value_end]),
        })
    }

    /// Sets `key` to the JSON text `value` (every occurrence), adding it when absent.
    pub fn set(&mut self, key: &str, value: String) {
        let mut kept = false;
        for member in self.members.iter_mut() {
            if member.edit == Edit::Drop || Self::name(member) != key {
                continue;
            }
            if matches!(member.edit, Edit::Rename(_)) {
                member.edit = Edit::Drop;
            } else {
                member.edit = Edit::Value(value.clone());
                kept = true;
            }
        }
        if !kept {
            self.forget_added(key);
            self.added.push(format!("{}:{value}", quoted(key)));
        }
    }

    fn forget_added(&mut self, key: &str) {
        let prefix = format!("{}:", quoted(key));
        self.added.retain(|a| !a.starts_with(&prefix));
    }

    pub fn changed(&self) -> bool {
        !self.added.is_empty() || self.members.iter().any(|m| m.edit != Edit::Keep)
    }

    /// The body with the edits made; the input itself when there are none.
    pub fn into_bytes(self) -> Cow<'a, [u8]> {
        if !self.changed() {
            return Cow::Borrowed(self.body);
        }
        let body = self.body;
        let mut out = Vec::with_capacity(body.len() + 64);
        let first = self.members.first().map_or(self.open, |m| m.key_start);
        out.extend_from_slice(&body[..first]);
        let mut wrote = false;
        for added in &self.added {
            if wrote {
                out.push(b',');
            }
            out.extend_from_slice(added.as_bytes());
            wrote = true;
        }
        for (i, member) in self.members.iter().enumerate() {
            if member.edit == Edit::Drop {
                continue;
            }
            if wrote {
                // The separator the body had before this member (it holds one
                // comma), or a plain comma before the first original member.
                match i.checked_sub(1).map(|p| &self.members[p]) {
                    Some(prev) => out.extend_from_slice(&body[prev.value_end..member.key_start]),
                    None => out.push(b','),
                }
            }
            match &member.edit {
                Edit::Keep | Edit::Drop => {
                    out.extend_from_slice(&body[member.key_start..member.value_end])
                }
                Edit::Rename(to) => {
                    out.extend_from_slice(quoted(to).as_bytes());
                    out.extend_from_slice(&body[member.key_end..member.value_end]);
                }
                Edit::Value(text) => {
                    out.extend_from_slice(&body[member.key_start..member.value_start]);
                    out.extend_from_slice(text.as_bytes());
                }
            }
            wrote = true;
        }
        let last = self.members.last().map_or(self.open, |m| m.value_end);
        out.extend_from_slice(&body[last..]);
        Cow::Owned(out)
    }
}

impl Params for RawObject<'_> {
    fn contains(&self, key: &str) -> bool {
        self.live().any(|m| Self::name(m) == key)
    }

    fn number(&self, key: &str) -> Option<f64> {
        let text = self.value(key)?;
        match serde_json::from_slice::<serde_json::Value>(text.as_bytes()).ok()? {
            serde_json::Value::Number(n) => n.as_f64(),
            _ => None,
        }
    }

    fn is_null(&self, key: &str) -> bool {
        self.value(key).is_some_and(|v| v == "null")
    }

    fn remove(&mut self, key: &str) {
        for member in self.members.iter_mut() {
            if member.edit != Edit::Drop && Self::name(member) == key {
                member.edit = Edit::Drop;
            }
        }
        self.forget_added(key);
    }

    fn rename(&mut self, from: &str, to: &str) {
        let mut moved = Vec::new();
        for member in self.members.iter_mut() {
            if member.edit == Edit::Drop || Self::name(member) != from {
                continue;
            }
            member.edit = match std::mem::replace(&mut member.edit, Edit::Keep) {
                // A replaced value renamed: dropped here, added under the new name.
                Edit::Value(text) => {
                    moved.push(text);
                    Edit::Drop
                }
                _ if member.key == to => Edit::Keep,
                _ => Edit::Rename(to.to_string()),
            };
        }
        for text in moved {
            self.added.push(format!("{}:{text}", quoted(to)));
        }
    }
}

/// `text` as a JSON string.
fn quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    crate::json_out::quote(&mut out, text);
    out
}

/// Finds the ends of tokens in a body serde already accepted.
struct Scanner<'a> {
    body: &'a [u8],
    at: usize,
}

impl Scanner<'_> {
    fn peek(&self) -> Option<u8> {
        self.body.get(self.at).copied()
    }

    fn space(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    fn string(&mut self) -> Result<(), String> {
        self.at += 1;
        loop {
            match self.peek() {
                Some(b'"') => {
                    self.at += 1;
                    return Ok(());
                }
                Some(b'\\') => self.at += 2,
                Some(_) => self.at += 1,
                None => return Err("unterminated string".into()),
            }
        }
    }

    fn value(&mut self) -> Result<(), String> {
        match self.peek() {
            Some(b'"') => self.string(),
            Some(b'{' | b'[') => {
                let mut depth = 0usize;
                loop {
                    match self.peek() {
                        Some(b'"') => self.string()?,
                        Some(b'{' | b'[') => {
                            depth += 1;
                            self.at += 1;
                        }
                        Some(b'}' | b']') => {
                            self.at += 1;
                            depth -= 1;
                            if depth == 0 {
                                return Ok(());
                            }
                        }
                        Some(_) => self.at += 1,
                        None => return Err("unterminated value".into()),
                    }
                }
            }
            Some(_) => {
                while !matches!(
                    self.peek(),
                    None | Some(b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r')
                ) {
                    self.at += 1;
                }
                Ok(())
            }
            None => Err("expected a value".into()),
        }
    }
}
