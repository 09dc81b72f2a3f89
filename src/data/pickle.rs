//! A bounded reader for the pickles of CIFAR-10's Python version: a dict of a few lists, strings
//! and one numpy array, written by Python 2's cPickle (protocol 2) or by Python 3 (protocols 2
//! to 5).
//!
//! Written here rather than taken from serde-pickle, because a general unpickler cannot be made
//! safe for files a person drops on a page: memo references that it copies let 100 bytes expand
//! exponentially, and nesting it follows recursively overflows the stack. This one knows only the
//! opcodes such files use; shares memoized values instead of copying them; seals a container
//! once it is put into another, so that nothing can contain itself and a container's depth,
//! refused beyond [`MAX_DEPTH`], is final; calls nothing: a global is a name, a call is its
//! callable and arguments, for the reader of the result to recognise; and makes at most
//! [`MAX_VALUES`] values, so that memory stays bounded whatever the file's size.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

/// Deeper than any CIFAR-10 pickle nests (the numpy array's dtype is 4 levels down).
pub const MAX_DEPTH: usize = 32;
/// Values made (pushed, memoized), tens of times what a CIFAR-10 batch needs (about 60 000:
/// its labels and file names): a bound on the reader's memory, about 100 MB.
pub const MAX_VALUES: usize = 1 << 20;

#[derive(Clone)]
pub enum Value {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Rc<str>),
    Bytes(Rc<[u8]>),
    List(Rc<Container<Vec<Value>>>),
    Dict(Rc<Container<Vec<(Value, Value)>>>),
    Tuple(Rc<Container<Vec<Value>>>),
    /// `module.name`, unresolved.
    Global(Rc<str>, Rc<str>),
    /// `callable(*args)`, with the state BUILD gave it.
    Call(Rc<Container<Call>>),
}

pub struct Call {
    pub callable: Value,
    pub args: Value,
    pub state: Option<Value>,
}

/// A container's contents, its depth (1 + its deepest item's), and whether it has been put into
/// another (after which it never changes).
pub struct Container<T> {
    items: RefCell<T>,
    depth: Cell<usize>,
    sealed: Cell<bool>,
}

impl<T> Container<T> {
    fn new(items: T, depth: usize) -> Rc<Self> {
        Rc::new(Self {
            items: RefCell::new(items),
            depth: Cell::new(depth),
            sealed: Cell::new(false),
        })
    }

    pub fn items(&self) -> std::cell::Ref<'_, T> {
        self.items.borrow()
    }
}

/// Shared values make a graph that printing as a tree could take exponential time over: a value
/// prints as its description.
impl std::fmt::Debug for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

impl Value {
    fn depth(&self) -> usize {
        match self {
            Value::List(c) | Value::Tuple(c) => c.depth.get(),
            Value::Dict(c) => c.depth.get(),
            Value::Call(c) => c.depth.get(),
            _ => 0,
        }
    }

    /// Marks the value as put into another: a container never changes after that.
    fn seal(&self) {
        match self {
            Value::List(c) | Value::Tuple(c) => c.sealed.set(true),
            Value::Dict(c) => c.sealed.set(true),
            Value::Call(c) => c.sealed.set(true),
            _ => {}
        }
    }

    /// What the value is, in a few words, for an error message (never the value itself: it
    /// can be megabytes).
    pub fn describe(&self) -> String {
        match self {
            Value::None => "None".into(),
            Value::Bool(b) => format!("the boolean {b}"),
            Value::Int(i) => format!("the integer {i}"),
            Value::Float(f) => format!("the number {f}"),
            Value::Str(s) if s.chars().count() <= 24 => format!("the string {s:?}"),
            Value::Str(s) => format!("a string of {} characters", s.chars().count()),
            Value::Bytes(b) => format!("{} bytes", b.len()),
            Value::List(c) => format!("a list of {} items", c.items().len()),
            Value::Tuple(c) => format!("a tuple of {} items", c.items().len()),
            Value::Dict(c) => format!("a dict of {} items", c.items().len()),
            Value::Global(m, n) => format!("`{m}.{n}`"),
            Value::Call(c) => match &c.items().callable {
                Value::Global(m, n) => format!("a call of `{m}.{n}`"),
                _ => "a call".into(),
            },
        }
    }
}

/// Reads a pickle; `Err` says what is wrong with it, briefly.
pub fn read(bytes: &[u8]) -> Result<Value, String> {
    Machine {
        input: bytes,
        at: 0,
        stack: Vec::new(),
        marks: Vec::new(),
        memo: HashMap::new(),
        made: 0,
    }
    .run()
}

struct Machine<'a> {
    input: &'a [u8],
    at: usize,
    stack: Vec<Value>,
    /// Stack lengths at each MARK.
    marks: Vec<usize>,
    memo: HashMap<u32, Value>,
    /// Values pushed and memo entries made so far.
    made: usize,
}

impl Machine<'_> {
    /// Counts one more value against [`MAX_VALUES`].
    fn make(&mut self) -> Result<(), String> {
        self.made += 1;
        if self.made > MAX_VALUES {
            return Err(format!("more than {MAX_VALUES} values, far more than CIFAR-10's"));
        }
        Ok(())
    }

    fn take(&mut self, n: usize) -> Result<&[u8], String> {
        let end = self.at.checked_add(n).filter(|&end| end <= self.input.len());
        let end = end.ok_or_else(|| format!("it ends early, at byte {}", self.input.len()))?;
        let bytes = &self.input[self.at..end];
        self.at = end;
        Ok(bytes)
    }

    fn uint(&mut self, n: usize) -> Result<u64, String> {
        let mut le = [0u8; 8];
        le[..n].copy_from_slice(self.take(n)?);
        Ok(u64::from_le_bytes(le))
    }

    /// A length-prefixed payload.
    fn sized(&mut self, len_bytes: usize) -> Result<&[u8], String> {
        let n = usize::try_from(self.uint(len_bytes)?).map_err(|_| "a length beyond memory".to_string())?;
        self.take(n)
    }

    fn line(&mut self) -> Result<&str, String> {
        let rest = &self.input[self.at..];
        let n = rest.iter().position(|&b| b == b'\n').ok_or("a line without its end")?;
        let line = std::str::from_utf8(&rest[..n]).map_err(|_| "a name that is not text".to_string())?;
        self.at += n + 1;
        Ok(line)
    }

    fn text(bytes: &[u8]) -> Result<Value, String> {
        let s = std::str::from_utf8(bytes).map_err(|_| "a string that is not UTF-8".to_string())?;
        Ok(Value::Str(s.into()))
    }

    fn pop(&mut self) -> Result<Value, String> {
        let floor = self.marks.last().copied().unwrap_or(0);
        if self.stack.len() <= floor {
            return Err("an operation on an empty stack".into());
        }
        Ok(self.stack.pop().expect("checked above"))
    }

    fn top(&self) -> Result<&Value, String> {
        self.stack.last().ok_or_else(|| "an operation on an empty stack".into())
    }

    /// The items since the last MARK, which is dropped.
    fn pop_mark(&mut self) -> Result<Vec<Value>, String> {
        let mark = self.marks.pop().ok_or("a missing MARK")?;
        Ok(self.stack.split_off(mark))
    }

    /// The depth of a container holding `children`, which are sealed: put into it.
    fn depth_of(children: &[Value]) -> Result<usize, String> {
        let depth = 1 + children.iter().map(Value::depth).max().unwrap_or(0);
        if depth > MAX_DEPTH {
            return Err(format!("it nests deeper than {MAX_DEPTH} levels"));
        }
        children.iter().for_each(Value::seal);
        Ok(depth)
    }

    fn tuple(items: Vec<Value>) -> Result<Value, String> {
        let depth = Self::depth_of(&items)?;
        Ok(Value::Tuple(Container::new(items, depth)))
    }

    /// Adds `items` to the list on top of the stack, or `pairs` to the dict there.
    fn extend(&mut self, items: Vec<Value>, pairs: bool) -> Result<(), String> {
        let depth = Self::depth_of(&items)?;
        let unsealed = |sealed: bool| {
            if sealed {
                Err("a container changed after it was put into another".to_string())
            } else {
                Ok(())
            }
        };
        match (self.top()?, pairs) {
            (Value::List(list), false) => {
                unsealed(list.sealed.get())?;
                list.depth.set(list.depth.get().max(depth));
                list.items.borrow_mut().extend(items);
            }
            (Value::Dict(dict), true) if items.len().is_multiple_of(2) => {
                unsealed(dict.sealed.get())?;
                dict.depth.set(dict.depth.get().max(depth));
                let mut items = items.into_iter();
                let mut map = dict.items.borrow_mut();
                while let (Some(k), Some(v)) = (items.next(), items.next()) {
                    map.push((k, v));
                }
            }
            (other, _) => return Err(format!("items added to {}", other.describe())),
        }
        Ok(())
    }

    fn run(mut self) -> Result<Value, String> {
        loop {
            let op = self.take(1)?[0];
            // Every opcode but these makes a value, a mark or a memo entry.
            if !matches!(op, 0x80 | 0x95 | b'.' | b'0' | b'1' | b'a' | b'e' | b's' | b'u' | b'b') {
                self.make()?;
            }
            match op {
                0x80 => {
                    let protocol = self.take(1)?[0];
                    if !(2..=5).contains(&protocol) {
                        return Err(format!("pickle protocol {protocol}; CIFAR-10's are 2 to 5"));
                    }
                }
                // FRAME: a length that only helps readers who read ahead.
                0x95 => {
                    self.take(8)?;
                }
                b'.' => {
                    let result = self.pop()?;
                    return match self.stack.is_empty() && self.marks.is_empty() {
                        true => Ok(result),
                        false => Err("values left over at its end".into()),
                    };
                }
                b'(' => self.marks.push(self.stack.len()),
                b'0' => {
                    self.pop()?;
                }
                b'1' => {
                    self.pop_mark()?;
                }
                b'2' => self.stack.push(self.top()?.clone()),
                b'N' => self.stack.push(Value::None),
                0x88 => self.stack.push(Value::Bool(true)),
                0x89 => self.stack.push(Value::Bool(false)),
                b'K' => {
                    let i = self.uint(1)? as i64;
                    self.stack.push(Value::Int(i));
                }
                b'M' => {
                    let i = self.uint(2)? as i64;
                    self.stack.push(Value::Int(i));
                }
                b'J' => {
                    let i = self.uint(4)? as u32 as i32;
                    self.stack.push(Value::Int(i64::from(i)));
                }
                // LONG1: a little-endian two's-complement integer of up to 8 bytes here.
                0x8a => {
                    let n = usize::from(self.take(1)?[0]);
                    if n > 8 {
                        return Err("an integer wider than 64 bits".into());
                    }
                    let bytes = self.take(n)?;
                    let negative = bytes.last().is_some_and(|b| b & 0x80 != 0);
                    let mut le = [if negative { 0xff } else { 0 }; 8];
                    le[..n].copy_from_slice(bytes);
                    self.stack.push(Value::Int(i64::from_le_bytes(le)));
                }
                b'G' => {
                    let f = f64::from_be_bytes(self.take(8)?.try_into().expect("8 bytes"));
                    self.stack.push(Value::Float(f));
                }
                // Python 2's str (SHORT_BINSTRING, BINSTRING): bytes.
                b'U' | b'T' | b'C' | b'B' | 0x8e | 0x96 => {
                    let len_bytes = match op {
                        b'U' | b'C' => 1,
                        b'T' | b'B' => 4,
                        _ => 8,
                    };
                    let bytes = self.sized(len_bytes)?.into();
                    self.stack.push(Value::Bytes(bytes));
                }
                b'X' | 0x8c | 0x8d => {
                    let len_bytes = match op {
                        0x8c => 1,
                        b'X' => 4,
                        _ => 8,
                    };
                    let value = Self::text(self.sized(len_bytes)?)?;
                    self.stack.push(value);
                }
                b'}' => self.stack.push(Value::Dict(Container::new(Vec::new(), 1))),
                b']' => self.stack.push(Value::List(Container::new(Vec::new(), 1))),
                b')' => self.stack.push(Self::tuple(Vec::new())?),
                0x85..=0x87 => {
                    let n = usize::from(op - 0x84);
                    let floor = self.marks.last().copied().unwrap_or(0);
                    if self.stack.len() < floor + n {
                        return Err("an operation on an empty stack".into());
                    }
                    let items = self.stack.split_off(self.stack.len() - n);
                    self.stack.push(Self::tuple(items)?);
                }
                b't' => {
                    let items = self.pop_mark()?;
                    self.stack.push(Self::tuple(items)?);
                }
                b'a' => {
                    let item = self.pop()?;
                    self.extend(vec![item], false)?;
                }
                b'e' => {
                    let items = self.pop_mark()?;
                    self.extend(items, false)?;
                }
                b's' => {
                    let value = self.pop()?;
                    let key = self.pop()?;
                    self.extend(vec![key, value], true)?;
                }
                b'u' => {
                    let items = self.pop_mark()?;
                    self.extend(items, true)?;
                }
                b'c' => {
                    let module: Rc<str> = self.line()?.into();
                    let name: Rc<str> = self.line()?.into();
                    self.stack.push(Value::Global(module, name));
                }
                0x93 => {
                    let name = self.pop()?;
                    let module = self.pop()?;
                    match (module, name) {
                        (Value::Str(module), Value::Str(name)) => self.stack.push(Value::Global(module, name)),
                        _ => return Err("a global whose name is not text".into()),
                    }
                }
                // REDUCE and NEWOBJ: a call, not made.
                b'R' | 0x81 => {
                    let args = self.pop()?;
                    let callable = self.pop()?;
                    let depth = Self::depth_of(&[callable.clone(), args.clone()])?;
                    let call = Call {
                        callable,
                        args,
                        state: None,
                    };
                    self.stack.push(Value::Call(Container::new(call, depth)));
                }
                b'b' => {
                    let state = self.pop()?;
                    let depth = Self::depth_of(std::slice::from_ref(&state))?;
                    let Value::Call(call) = self.top()? else {
                        return Err(format!("BUILD on {}", self.top()?.describe()));
                    };
                    if call.sealed.get() || call.items().state.is_some() {
                        return Err("an object built twice, or after it was put into another".into());
                    }
                    call.depth.set(call.depth.get().max(depth));
                    call.items.borrow_mut().state = Some(state);
                }
                b'q' | b'r' => {
                    let key = self.uint(if op == b'q' { 1 } else { 4 })? as u32;
                    let value = self.top()?.clone();
                    self.memo.insert(key, value);
                }
                0x94 => {
                    let key = u32::try_from(self.memo.len()).map_err(|_| "too many memo entries".to_string())?;
                    let value = self.top()?.clone();
                    self.memo.insert(key, value);
                }
                b'h' | b'j' => {
                    let key = self.uint(if op == b'h' { 1 } else { 4 })? as u32;
                    let value = self
                        .memo
                        .get(&key)
                        .ok_or(format!("a reference to memo entry {key}, never stored"))?;
                    self.stack.push(value.clone());
                }
                other => {
                    return Err(format!(
                        "opcode 0x{other:02x} at byte {}, which CIFAR-10 pickles do not use",
                        self.at - 1
                    ));
                }
            }
        }
    }
}

/// The text and the encoding of `_codecs.encode(text, encoding)`: Python 3's protocol-2
/// spelling of bytes.
fn encoded(value: &Value) -> Option<(Rc<str>, Rc<str>)> {
    let Value::Call(call) = value else {
        return None;
    };
    let call = call.items();
    let (Value::Global(module, name), Value::Tuple(args)) = (&call.callable, &call.args) else {
        return None;
    };
    match (&**module, &**name, args.items().as_slice()) {
        ("_codecs", "encode", [Value::Str(text), Value::Str(encoding)]) => Some((text.clone(), encoding.clone())),
        _ => None,
    }
}

/// Bytes however the pickle wrote them: Python 2's str, Python 3's bytes, or
/// `_codecs.encode(text, "latin1")`.
pub fn bytes(value: &Value) -> Option<Rc<[u8]>> {
    match value {
        Value::Bytes(b) => Some(b.clone()),
        other => match encoded(other)? {
            (text, encoding) if &*encoding == "latin1" => text.chars().map(|c| u8::try_from(c).ok()).collect(),
            _ => None,
        },
    }
}

/// Text, or bytes read as Latin-1 (how Python 2's str names look from Python 3): a name, so at
/// most [`MAX_TEXT`] bytes; anything longer is not one.
pub fn text(value: &Value) -> Option<String> {
    let short = match value {
        Value::Str(s) => s.len() <= MAX_TEXT,
        Value::Bytes(b) => b.len() <= MAX_TEXT,
        // Latin-1 in UTF-8 takes at most two bytes a character.
        other => encoded(other).is_some_and(|(s, _)| s.len() <= 2 * MAX_TEXT),
    };
    match value {
        _ if !short => None,
        Value::Str(s) => Some(s.to_string()),
        other => bytes(other).map(|b| b.iter().map(|&c| char::from(c)).collect()),
    }
}

/// The longest name [`text`] reads.
pub const MAX_TEXT: usize = 4096;

/// A dict's entry by its key, an ASCII name, however the pickle spelled it (compared in place:
/// a dict of many long keys costs no copies).
pub fn field(dict: &Value, key: &str) -> Option<Value> {
    let Value::Dict(dict) = dict else {
        return None;
    };
    let is_key = |k: &Value| match k {
        Value::Str(s) => &**s == key,
        Value::Bytes(b) => &**b == key.as_bytes(),
        other => encoded(other).is_some_and(|(s, _)| &*s == key),
    };
    dict.items().iter().find(|(k, _)| is_key(k)).map(|(_, v)| v.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memo_and_dup_share_instead_of_copying() {
        // A list holding itself would expand forever: refused at once.
        let dup = b"\x80\x02}(U\x06labels]K\x00a2a2a2a2aU\x04data]u.";
        assert!(read(dup).unwrap_err().contains("after it was put into another"));
        // 20000 references to one 20000-item list: 20000 pointers, not 400 million integers.
        let mut quadratic = b"\x80\x02]q\x00(".to_vec();
        quadratic.extend(b"K\x00".repeat(20_000));
        quadratic.extend(b"e0}q\x01(U\x06labels](");
        quadratic.extend(b"h\x00".repeat(20_000));
        quadratic.extend(b"eU\x04data]u.");
        let dict = read(&quadratic).unwrap();
        let Some(Value::List(labels)) = field(&dict, "labels") else {
            panic!("labels is a list")
        };
        assert_eq!(labels.items().len(), 20_000);
    }

    #[test]
    fn a_file_of_a_million_one_byte_values_is_refused() {
        let mut many = b"\x80\x02".to_vec();
        many.extend(b"N".repeat(MAX_VALUES + 1));
        assert!(read(&many).unwrap_err().contains("more than"));
    }

    #[test]
    fn deep_nesting_is_refused_before_the_stack_runs_out() {
        let mut deep = b"\x80\x02".to_vec();
        deep.extend(b"]".repeat(20_001));
        deep.extend(b"a".repeat(20_000));
        deep.push(b'.');
        assert_eq!(
            read(&deep).unwrap_err(),
            format!("it nests deeper than {MAX_DEPTH} levels")
        );
    }

    #[test]
    fn truncated_and_foreign_pickles_say_what_is_wrong() {
        assert_eq!(
            read(b"\x80\x02}q\x00(U\x06lab").unwrap_err(),
            "it ends early, at byte 11"
        );
        assert!(
            read(b"\x80\x02cos\nsystem\n(U\x02lst.")
                .unwrap_err()
                .contains("values left over")
        );
        assert!(read(b"\x80\x01.").unwrap_err().contains("protocol 1"));
        assert!(read(b"\x80\x02I1\n.").unwrap_err().contains("opcode 0x49"));
        assert!(read(b"\x80\x02h\x05.").unwrap_err().contains("memo entry 5"));
    }
}
