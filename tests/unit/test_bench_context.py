"""`atlas-lsp bench context`, small: every measure runs and is reported."""

from __future__ import annotations

from atlas_lsp.bench import context


def test_the_context_benchmark_measures_assembly_with_large_files_open_too() -> None:
    result = context.run(files=20, file_lines=300, edits=8, positions=8)
    assert len(result.reparse) == 8 and len(result.assembly) == 8 and result.index_files == 20
    assert len(result.assembly_large_open) == 8 and result.large_open_lines >= context.LARGE_OPEN_LINES
    report = context.markdown(result)
    assert (
        f"| … with {context.LARGE_OPEN_FILES} more files of {result.large_open_lines} lines open, p50 / p95 ms |"
        in report
    )
    assert len(result.reparse_cpp_namespace) == 8 and result.cpp_segments == 1 and result.cpp_lines > 4000
    assert f"| C++, 600 functions in one namespace ({result.cpp_lines} lines, 1 segment: " in report
    assert len(result.own_first) == len(result.own_again) == 8 and result.own_index_files > 50
    assert f"| … in this package's own source ({context.OWN_SOURCE_FILE} open, its {result.own_index_files} " in report
    assert "nan" not in report
