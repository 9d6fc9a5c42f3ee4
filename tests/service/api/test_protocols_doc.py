"""docs/protocols.md's tritonclient snippet, run as written against the real service: the
Python users copy must work, and print what the comment says it prints."""

import contextlib
import io
import re

from tests.support.service import ROOT, Service


def test_the_tritonclient_snippet_in_the_docs_runs_as_written(service: Service) -> None:
    text = (ROOT / "docs" / "protocols.md").read_text()
    (snippet,) = re.findall(r"```python\n(.*?)```", text, re.DOTALL)
    here = snippet.replace('url="localhost:8000"', f'url="{service.url.removeprefix("http://")}"')
    assert here != snippet, "the snippet names the service's address"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(here, "docs/protocols.md", "exec"), {})  # our own docs, run as written
    first, second = printed.getvalue().splitlines()[:2]
    promised = re.search(r"# (\[b'.*\])", snippet)
    assert promised is not None
    assert first == promised.group(1)
    assert second.startswith("[[")  # the probabilities, a [2, 3] array
