"""What several test files check of the command line."""

from __future__ import annotations

from neuralzoo.cli import main


def one_line_error(argv, capsys, *parts) -> None:
    """The command exits 2 with one ``neuralzoo: error:`` line on stderr that holds every part."""
    code = main([str(a) for a in argv])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and err.startswith("neuralzoo: error: "), err
    for part in parts:
        assert part in err, (part, err)
