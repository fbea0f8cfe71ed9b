from atlas_lsp.completion.cache import CacheKey, SuggestionCache
from atlas_lsp.completion.service import inside_identifier
from atlas_lsp.prompts.chat import code_from_reply, render_chat
from atlas_lsp.prompts.completion import CursorText, build_chat_messages

SHAPE = (None, 64)


def test_exact_and_typing_as_suggested_hits() -> None:
    cache = SuggestionCache()
    cache.put(CacheKey("def f():\n    return ", "\n", SHAPE), "a + b")
    assert cache.get(CacheKey("def f():\n    return ", "\n", SHAPE)) == "a + b"
    assert cache.get(CacheKey("def f():\n    return a", "\n", SHAPE)) == " + b"
    assert cache.get(CacheKey("def f():\n    return a +", "\n", SHAPE)) == " b"
    assert cache.get(CacheKey("def f():\n    return x", "\n", SHAPE)) is None  # typed something else
    assert cache.get(CacheKey("def f():\n    return a + b", "\n", SHAPE)) is None  # nothing left to suggest
    assert cache.get(CacheKey("def f():\n    return a", "other\n", SHAPE)) is None  # the text after changed
    assert cache.hits == 1 and cache.forward_hits == 2


def test_cache_is_bounded() -> None:
    cache = SuggestionCache(capacity=2)
    for number in range(3):
        cache.put(CacheKey(str(number), "", SHAPE), "x")
    assert cache.get(CacheKey("0", "", SHAPE)) is None and cache.get(CacheKey("2", "", SHAPE)) == "x"


def test_inside_identifier() -> None:
    assert inside_identifier(CursorText("", "    retu", "rn x", ""))
    assert not inside_identifier(CursorText("", "    return", "", ""))
    assert not inside_identifier(CursorText("", "    f(", ")", ""))


def test_chat_prompt_uses_the_models_template_and_marks_the_cursor() -> None:
    template = (
        "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}{% endfor %}"
        "{% if add_generation_prompt %}<|assistant|>{% endif %}"
    )
    messages = build_chat_messages(CursorText("def f():\n", "    return ", "", ""))
    text = render_chat(template, messages)
    assert text.startswith("<|user|>") and text.endswith("<|assistant|>")
    assert "    return <CURSOR>" in text


def test_code_from_reply() -> None:
    assert code_from_reply("Sure! Here it is:\n```python\na + b\n```\nHope it helps") == "a + b\n"
    assert code_from_reply("a + b") == "a + b"
