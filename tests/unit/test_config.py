from atlas_lsp.config import Settings, merge_settings, settings_reference


def test_defaults_are_complete() -> None:
    settings = Settings()
    assert settings.model.path is None
    assert settings.completion.max_tokens == 64
    assert settings.solve.candidates == 4
    assert settings.logging.level is None


def test_camel_and_snake_keys_are_accepted() -> None:
    settings, problems = merge_settings(
        Settings(), {"completion": {"maxTokens": 32, "debounce_ms": 0}, "model": {"gpuLayers": 0}}
    )
    assert problems == []
    assert settings.completion.max_tokens == 32
    assert settings.completion.debounce_ms == 0
    assert settings.model.gpu_layers == 0


def test_atlas_wrapper_is_unwrapped() -> None:
    settings, problems = merge_settings(Settings(), {"atlas": {"completion": {"maxLines": 3}}})
    assert problems == []
    assert settings.completion.max_lines == 3


def test_unknown_keys_and_sections_are_named_and_ignored() -> None:
    """A typo would otherwise be a setting silently without effect (VS Code warns of unknown keys in settings.json;
    Neovim and Emacs users write the tree by hand)."""
    settings, problems = merge_settings(Settings(), {"nope": 1, "completion": {"colour": "red"}})
    assert [str(problem) for problem in problems] == [
        "atlas.nope: unknown section; ignored",
        "atlas.completion.colour: unknown setting; ignored",
    ]
    assert settings == Settings()
    settings, problems = merge_settings(
        Settings(), {"completions": {"maxTokens": 3}, "completion": {"maxToken": 3, "maxLines": 2}}
    )
    assert [str(problem) for problem in problems] == [
        "atlas.completions: unknown section (did you mean 'completion'?); ignored",
        "atlas.completion.maxToken: unknown setting (did you mean 'maxTokens'?); ignored",
    ]
    assert (settings.completion.max_tokens, settings.completion.max_lines) == (64, 2)  # the rest applies


def test_the_editors_own_section_is_not_a_problem() -> None:
    """VS Code sends the whole `atlas` section, its extension's `atlas.server.*` (how it starts the server) too."""
    settings, problems = merge_settings(Settings(), {"server": {"command": ["atlas-lsp"], "logLevel": "info"}})
    assert problems == [] and settings == Settings()


def test_bad_type_is_named_and_default_kept() -> None:
    start, _ = merge_settings(Settings(), {"completion": {"maxTokens": 10}})
    settings, problems = merge_settings(start, {"completion": {"maxTokens": "lots", "maxLines": 4}})
    assert [p.key for p in problems] == ["completion.maxTokens"]
    assert "atlas.completion.maxTokens" in str(problems[0])
    assert settings.completion.max_tokens == 64  # the default, not the bad value nor a coercion
    assert settings.completion.max_lines == 4  # good values next to a bad one still apply


def test_no_lossy_coercions() -> None:
    for raw in ({"completion": {"enabled": "false"}}, {"completion": {"maxTokens": 1.5}}, {"model": {"path": 3}}):
        _, problems = merge_settings(Settings(), raw)
        assert len(problems) == 1, raw


def test_out_of_range_is_reported() -> None:
    settings, problems = merge_settings(Settings(), {"completion": {"temperature": 5.0}})
    assert problems and "between 0.0 and 2.0" in problems[0].message
    assert settings.completion.temperature == 0.0


def test_literal_choices_are_checked() -> None:
    settings, problems = merge_settings(Settings(), {"logging": {"level": "loud"}})
    assert problems and problems[0].key == "logging.level"
    assert settings.logging.level is None


def test_non_object_settings_are_reported() -> None:
    settings, problems = merge_settings(Settings(), ["a"])
    assert problems and settings == Settings()
    _, problems = merge_settings(Settings(), {"completion": 3})
    assert problems[0].key == "completion"


def test_reference_lists_every_setting_with_docs() -> None:
    rows = settings_reference()
    keys = [key for key, _, _ in rows]
    assert "model.path" in keys and "completion.debounceMs" in keys
    assert all(doc for _, _, doc in rows)
