"""Piece-cached tokenization: used only when a vocabulary's pieces give exactly its whole-text tokens."""

from __future__ import annotations

import re

from atlas_lsp.model.tokens import CODE_SAMPLE, PieceCachedTokenizer, choose_split

WORD_OR_NEWLINE = re.compile(r"\n[ \t]*|[ \t]*[^\s]+|[ \t]+")


def bpe_like(text: str) -> list[int]:
    """A toy pre-tokenizing vocabulary: a newline with the next line's indentation is one token, words keep
    their leading spaces (like GPT-2's regex). Token ids are stable hashes of the pieces."""
    return [sum(map(ord, piece)) for piece in WORD_OR_NEWLINE.findall(text)]


def sentencepiece_like(text: str) -> list[int]:
    """Adds a word-start marker to the start of every call (SentencePiece's dummy prefix)."""
    return [1, *bpe_like(text)]


def test_a_pre_tokenizing_vocabulary_gets_the_newline_rule() -> None:
    assert choose_split(bpe_like) == "before-newline"


def test_a_vocabulary_whose_pieces_differ_keeps_whole_text_tokenization() -> None:
    assert choose_split(sentencepiece_like) is None
    calls: list[str] = []

    def counted(text: str) -> list[int]:
        calls.append(text)
        return sentencepiece_like(text)

    tokenizer = PieceCachedTokenizer(counted, None)
    assert tokenizer.tokenize(CODE_SAMPLE) == sentencepiece_like(CODE_SAMPLE)
    assert calls == [CODE_SAMPLE]


def test_a_failing_tokenizer_is_not_used_in_pieces() -> None:
    def broken(text: str) -> list[int]:
        if text == CODE_SAMPLE:
            return bpe_like(text)
        raise ValueError("cannot tokenize a piece")

    assert choose_split(broken) is None


def test_pieces_come_from_the_cache_and_join_to_the_whole_tokens() -> None:
    calls: list[str] = []

    def counted(text: str) -> list[int]:
        calls.append(text)
        return bpe_like(text)

    tokenizer = PieceCachedTokenizer(counted, "before-newline", max_pieces=1000)
    text = "def f(x):\n    return x + 1\n\n\nprint(f(2))\n"
    assert tokenizer.tokenize(text) == bpe_like(text)
    first = len(calls)
    edited = text.replace("print(f(2))", "print(f(3))")
    assert tokenizer.tokenize(edited) == bpe_like(edited)
    assert len(calls) - first == 1  # only the edited line was tokenized again
    assert tokenizer.pieces_reused >= 2


def test_the_cache_is_bounded() -> None:
    tokenizer = PieceCachedTokenizer(bpe_like, "before-newline", max_pieces=10)
    tokenizer.tokenize("".join(f"line{n}\n" for n in range(100)))
    assert len(tokenizer._pieces) <= 10 and set(tokenizer._lengths) == set(tokenizer._pieces)


def test_counts_match_the_tokens_with_pieces_known_unknown_and_let_go() -> None:
    """Counting reads the known pieces' lengths in one pass; a piece not known (new, or let go) is tokenized."""
    calls: list[str] = []

    def counted(text: str) -> list[int]:
        calls.append(text)
        return bpe_like(text)

    tokenizer = PieceCachedTokenizer(counted, "before-newline", max_pieces=12)
    text = "".join(f"    value_{n} = compute({n})\n" for n in range(10))
    assert tokenizer.count(text) == len(bpe_like(text))  # all new
    tokenized = len(calls)
    assert tokenizer.count(text) == len(bpe_like(text)) and len(calls) == tokenized  # all known: no tokenizing
    longer = text + "".join(f"extra_{n} = {n}\n" for n in range(10))  # some known, some new, some let go
    assert tokenizer.count(longer) == len(bpe_like(longer))
    assert tokenizer.count(text) == len(bpe_like(text))
    assert set(tokenizer._lengths) == set(tokenizer._pieces) and len(tokenizer._pieces) <= 12


def test_a_first_line_not_known_is_counted_by_its_twin_after_a_newline_when_asked() -> None:
    """A budget's trial prompt starts at a line of an open document (known with its newline): counted by that
    twin, within one token, without tokenizing it; the exact count (and `tokenize`) still tokenize it."""
    calls: list[str] = []

    def counted(text: str) -> list[int]:
        calls.append(text)
        return bpe_like(text)

    tokenizer = PieceCachedTokenizer(counted, "before-newline")
    document = "".join(f"value_{n} = compute({n})\n    total += value_{n}\n" for n in range(10))
    tokenizer.tokenize(document)  # (opening the document prepares its pieces)
    known = len(calls)
    trial = document.split("\n", 7)[7]  # from line 7 on: its first piece lacks the newline it has in the document
    estimate = tokenizer.count(trial, first_by_twin=True)
    assert len(calls) == known  # nothing tokenized
    assert estimate - len(bpe_like(trial)) in (0, 1)  # (this vocabulary: the newline is a token of its own)
    assert tokenizer.count(trial) == len(bpe_like(trial)) and len(calls) == known + 1  # exact: tokenized
    fresh = "brand_new = 1\n" + trial
    assert tokenizer.count(fresh, first_by_twin=True) == len(bpe_like(fresh))  # no twin known: tokenized, exact


def test_the_fast_newline_split_matches_its_regex() -> None:
    import random

    from atlas_lsp.model.tokens import split_before_newlines

    pattern = re.compile(r"(?<=\S)(?=\n)")
    rng = random.Random(9)
    for _ in range(2000):
        text = "".join(rng.choice(["\n", "\r\n", " ", "\t", "a", "é", "\u2028", ":"]) for _ in range(rng.randrange(12)))
        assert split_before_newlines(text) == pattern.split(text), repr(text)
    assert split_before_newlines(CODE_SAMPLE) == pattern.split(CODE_SAMPLE)
