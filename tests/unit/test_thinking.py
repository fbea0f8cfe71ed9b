"""Reasoning models: the thinking budget is enforced and the thinking never reaches the code."""

from __future__ import annotations

from atlas_lsp.prompts.thinking import generate_with_budget, is_reasoning_template, strip_thinking
from atlas_lsp.solve.loop import extract_function
from atlas_lsp.syntax.registry import load_registry

PYTHON = load_registry().languages["python"]


class ThinkingModel:
    """Thinks forever unless stopped by its budget; answers once the section is closed."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int, tuple[str, ...]]] = []

    def __call__(self, prompt: str, max_tokens: int, stop: tuple[str, ...]) -> str:
        self.calls.append((prompt, max_tokens, stop))
        if prompt.rstrip().endswith("</think>"):
            return "```python\ndef add(a, b):\n    return a + b\n```"
        return "hmm, maybe def add(a, b): return a - b? " * max_tokens  # never closes the section by itself


def test_budget_forcing_closes_the_thinking_and_asks_for_the_answer() -> None:
    model = ThinkingModel()
    answer = generate_with_budget(model, "<|im_start|>assistant\n", budget=16, max_tokens=256)
    (first, budget, stop), (second, most, _) = model.calls
    assert first.endswith("<think>\n") and budget == 16 and stop == ("</think>",)
    assert second.rstrip().endswith("</think>") and most == 256
    assert answer.startswith("```python") and "a - b" not in answer


def test_budget_forcing_when_the_template_already_opened_the_section() -> None:
    model = ThinkingModel()
    generate_with_budget(model, "<|im_start|>assistant\n<think>\n", budget=8, max_tokens=64)
    assert model.calls[0][0].count("<think>") == 1


def test_thinking_is_stripped_before_the_function_is_taken() -> None:
    reply = "<think>\nTry def add(a, b): return 0 first.\n```python\ndef add(a, b):\n    return 0\n```\n</think>\n" + (
        "```python\ndef add(a, b):\n    return a + b\n```"
    )
    assert "return 0" not in strip_thinking(reply)
    code, problem = extract_function(strip_thinking(reply), PYTHON, "add", "")
    assert problem == "" and code == "def add(a, b):\n    return a + b"
    assert strip_thinking("still thinking, cut here\n</think>\nanswer") == "answer"  # opened by the prompt
    assert strip_thinking("answer<think>cut by the budget") == "answer"
    assert strip_thinking("plain answer") == "plain answer"


def test_reasoning_templates_are_recognised() -> None:
    assert is_reasoning_template("{% if message.role == 'assistant' %}<think>\n{% endif %}")
    assert not is_reasoning_template("{{ bos_token }}{% for m in messages %}{{ m.content }}{% endfor %}")
    assert not is_reasoning_template(None)


def test_the_solve_service_forces_the_budget_for_a_reasoning_model() -> None:
    from atlas_lsp.config import SolveSettings
    from atlas_lsp.model.backend import CancelToken, GenerationRequest, GenerationStream, ModelInfo
    from atlas_lsp.model.worker import InferenceWorker
    from atlas_lsp.prompts.chat import ChatPrompt
    from atlas_lsp.solve.service import SolveService

    requests: list[GenerationRequest] = []
    model = ThinkingModel()

    class ReasoningBackend:
        info = ModelInfo("r1", "r1.gguf", "qwen3", 4096, 4096, "cpu", 0, 0.0, chat_template="<think>{{ x }}")

        def generate(self, request: GenerationRequest, cancel: CancelToken) -> GenerationStream:
            requests.append(request)
            return GenerationStream(iter([model(request.prompt, request.max_tokens, request.stop)]))

        def count_tokens(self, text: str) -> int:
            return len(text)

        def close(self) -> None:
            return None

    worker = InferenceWorker()
    worker.replace_backend(ReasoningBackend).result()
    try:
        generate = SolveService(load_registry(), worker)._generate(
            worker, SolveSettings(thinking_budget=32, max_tokens=200)
        )
        reply = generate(ChatPrompt("<|im_start|>assistant\n", (("user", "add"),)), 0.0, 1, CancelToken())
    finally:
        worker.stop()
    assert [r.max_tokens for r in requests] == [32, 200]
    assert requests[0].stop == ("</think>",) and requests[1].prompt.rstrip().endswith("</think>")
    assert reply.text.startswith("```python") and "a - b" not in reply.text
