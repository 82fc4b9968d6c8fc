//! A bounded server-sent-events parser: bytes in, the `data` of each event out.
//!
//! It replaces eventsource-stream, whose line buffer has no limit (an upstream could make
//! promptd buffer gigabytes) and which rescans that buffer on every chunk. Here a line or an
//! event over `max_line` bytes is an error the moment it is exceeded, and each byte is scanned
//! once.
//!
//! Lines end with `\n`, `\r\n` or `\r` (the SSE spec allows all three, split anywhere across
//! chunks). It is stricter than the spec in one way: a line that is not blank, a comment or one
//! of the fields `data`, `event`, `id`, `retry` is an error rather than ignored. OpenAI-compatible
//! servers never send such lines, and ignoring them would turn a misconfigured `api_base` (an
//! HTML page, a JSON error, NDJSON) into a silently empty answer.

/// Why the input is not a usable event stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SseError {
    /// A line, or the data of one event, is longer than the limit.
    TooLong { limit: usize },
    /// A line that is not SSE; carries its first 200 characters.
    NotSse(String),
}

#[derive(Debug)]
pub(crate) struct SseParser {
    max_line: usize,
    /// The incomplete last line.
    line: Vec<u8>,
    /// The previous chunk ended with `\r`: a leading `\n` in the next one belongs to it.
    after_cr: bool,
    /// The `data` lines of the event being read, joined with `\n`.
    data: Vec<u8>,
    has_data: bool,
    failed: bool,
}

impl SseParser {
    pub(crate) fn new(max_line: usize) -> SseParser {
        SseParser {
            max_line,
            line: Vec::new(),
            after_cr: false,
            data: Vec::new(),
            has_data: false,
            failed: false,
        }
    }

    /// Parses a chunk, calling `emit` with the data of each complete event. After an error the
    /// parser stays failed and ignores further input.
    pub(crate) fn feed(
        &mut self,
        mut chunk: &[u8],
        emit: &mut impl FnMut(Vec<u8>),
    ) -> Result<(), SseError> {
        if self.failed {
            return Ok(());
        }
        if self.after_cr {
            self.after_cr = false;
            if let Some(rest) = chunk.strip_prefix(b"\n") {
                chunk = rest;
            }
        }
        while let Some(end) = chunk.iter().position(|b| *b == b'\n' || *b == b'\r') {
            let (head, tail) = chunk.split_at(end);
            let result = if self.line.is_empty() {
                self.check_len(head.len())
                    .and_then(|()| self.process_line(head, emit))
            } else {
                self.check_len(self.line.len() + head.len()).and_then(|()| {
                    let mut line = std::mem::take(&mut self.line);
                    line.extend_from_slice(head);
                    let r = self.process_line(&line, emit);
                    line.clear();
                    self.line = line;
                    r
                })
            };
            if let Err(e) = result {
                self.failed = true;
                return Err(e);
            }
            chunk = match tail {
                [b'\r', b'\n', rest @ ..] => rest,
                [b'\r'] => {
                    self.after_cr = true;
                    &[]
                }
                [_, rest @ ..] => rest,
                [] => &[],
            };
        }
        if let Err(e) = self.check_len(self.line.len() + chunk.len()) {
            self.failed = true;
            return Err(e);
        }
        self.line.extend_from_slice(chunk);
        Ok(())
    }

    /// End of input: a last line without its newline, and a last event without its blank line,
    /// still count (lenient: the data is complete, only the terminator is missing).
    pub(crate) fn finish(&mut self, emit: &mut impl FnMut(Vec<u8>)) -> Result<(), SseError> {
        if self.failed {
            return Ok(());
        }
        if !self.line.is_empty() {
            let line = std::mem::take(&mut self.line);
            if let Err(e) = self.process_line(&line, emit) {
                self.failed = true;
                return Err(e);
            }
        }
        self.dispatch(emit);
        Ok(())
    }

    fn check_len(&self, len: usize) -> Result<(), SseError> {
        if len > self.max_line {
            Err(SseError::TooLong {
                limit: self.max_line,
            })
        } else {
            Ok(())
        }
    }

    fn dispatch(&mut self, emit: &mut impl FnMut(Vec<u8>)) {
        if self.has_data {
            self.has_data = false;
            emit(std::mem::take(&mut self.data));
        }
    }

    fn process_line(
        &mut self,
        line: &[u8],
        emit: &mut impl FnMut(Vec<u8>),
    ) -> Result<(), SseError> {
        if line.is_empty() {
            self.dispatch(emit);
            return Ok(());
        }
        if line[0] == b':' {
            return Ok(());
        }
        let (field, value) = match line.iter().position(|b| *b == b':') {
            Some(i) => {
                let v = &line[i + 1..];
                (&line[..i], v.strip_prefix(b" ").unwrap_or(v))
            }
            None => (line, &[][..]),
        };
        match field {
            b"data" => {
                let extra = usize::from(self.has_data);
                self.check_len(self.data.len() + extra + value.len())?;
                if self.has_data {
                    self.data.push(b'\n');
                }
                self.data.extend_from_slice(value);
                self.has_data = true;
                Ok(())
            }
            b"event" | b"id" | b"retry" => Ok(()),
            _ => Err(SseError::NotSse(
                String::from_utf8_lossy(line).chars().take(200).collect(),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `chunks`, returning the events and the first error.
    fn parse(chunks: &[&[u8]], max: usize) -> (Vec<String>, Option<SseError>) {
        let mut p = SseParser::new(max);
        let mut out = Vec::new();
        let mut emit = |d: Vec<u8>| out.push(String::from_utf8(d).unwrap());
        let mut err = None;
        for c in chunks {
            if let Err(e) = p.feed(c, &mut emit) {
                err.get_or_insert(e);
            }
        }
        if let Err(e) = p.finish(&mut emit) {
            err.get_or_insert(e);
        }
        (out, err)
    }

    #[test]
    fn events_are_split_on_blank_lines_with_any_line_ending() {
        for sep in ["\n", "\r\n", "\r"] {
            let text = format!(
                "data: a{sep}{sep}data:b{sep}{sep}: comment{sep}event: x{sep}id: 1{sep}retry: 5{sep}data: c{sep}{sep}"
            );
            assert_eq!(
                parse(&[text.as_bytes()], 100),
                (vec!["a".into(), "b".into(), "c".into()], None),
                "{sep:?}"
            );
        }
    }

    #[test]
    fn an_event_split_at_every_possible_byte_is_reassembled() {
        let text = b"data: {\"x\":1}\r\n\r\ndata: {\"y\":2}\n\n";
        for cut in 0..=text.len() {
            for cut2 in cut..=text.len() {
                let (a, rest) = text.split_at(cut);
                let (b, c) = rest.split_at(cut2 - cut);
                assert_eq!(
                    parse(&[a, b, c], 100),
                    (vec!["{\"x\":1}".into(), "{\"y\":2}".into()], None),
                    "cuts {cut} {cut2}"
                );
            }
        }
    }

    #[test]
    fn a_cr_at_the_end_of_a_chunk_and_a_lf_at_the_start_of_the_next_are_one_line_end() {
        assert_eq!(
            parse(&[b"data: a\r", b"\n\r", b"\ndata: b\r\n\r\n"], 100),
            (vec!["a".into(), "b".into()], None)
        );
    }

    #[test]
    fn several_data_lines_make_one_event_joined_by_newlines() {
        assert_eq!(
            parse(&[b"data: {\"a\":\ndata: 1}\n\n"], 100),
            (vec!["{\"a\":\n1}".into()], None)
        );
    }

    #[test]
    fn the_last_event_counts_even_without_its_terminator() {
        assert_eq!(parse(&[b"data: x"], 100), (vec!["x".into()], None));
        assert_eq!(parse(&[b"data: x\n"], 100), (vec!["x".into()], None));
        assert_eq!(parse(&[b""], 100), (vec![], None));
    }

    #[test]
    fn a_line_over_the_limit_fails_as_soon_as_it_is_exceeded_without_a_newline() {
        let mut p = SseParser::new(10);
        let mut n = 0;
        let mut emit = |_| n += 1;
        assert_eq!(p.feed(b"data: 1234", &mut emit), Ok(()));
        assert_eq!(
            p.feed(b"5", &mut emit),
            Err(SseError::TooLong { limit: 10 })
        );
        // Failed for good: no more input is buffered or parsed.
        assert_eq!(p.feed(b"\n\ndata: x\n\n", &mut emit), Ok(()));
        assert_eq!(p.finish(&mut emit), Ok(()));
        assert_eq!(n, 0);
        assert!(p.line.capacity() <= 16);
    }

    #[test]
    fn a_line_of_exactly_the_limit_is_fine_and_complete_lines_are_checked_too() {
        assert_eq!(parse(&[b"data: 1234\n\n"], 10), (vec!["1234".into()], None));
        assert_eq!(
            parse(&[b"data: 12345\n\n"], 10).1,
            Some(SseError::TooLong { limit: 10 })
        );
    }

    #[test]
    fn an_event_made_of_many_short_data_lines_is_capped_too() {
        let (_, err) = parse(&[b"data: 12345\ndata: 12345\ndata: 12345\n\n"], 12);
        assert_eq!(err, Some(SseError::TooLong { limit: 12 }));
    }

    #[test]
    fn a_line_that_is_not_sse_is_an_error_showing_it() {
        let (events, err) = parse(&[b"data: ok\n\n{\"error\": \"nope\"}\n"], 100);
        assert_eq!(events, vec!["ok".to_owned()]);
        assert_eq!(err, Some(SseError::NotSse("{\"error\": \"nope\"}".into())));
        assert_eq!(
            parse(&[b"<html>"], 100).1,
            Some(SseError::NotSse("<html>".into()))
        );
    }
}
