"""The programs a `sh -c` script calls, read without running it (engines/local/shellscan):
here-documents are standard input, a shell's here-document is its script, and a script
that installs packages is refused before anything runs (e2e TestSignaledContainerSet)."""

from __future__ import annotations

import textwrap
from pathlib import Path

from dflowctl import argofile
from dflowctl.engines.local import support
from dflowctl.engines.local.shellscan import package_manager, script_programs
from dflowctl.errors import NotSupportedError

SIGNALED_ONE = """\
/bin/bash <<'EOF'
echo "hello one"
apt update -y
apt install stress -y
echo 'stress --vm 1 --vm-bytes 512M --vm-hang 100' > abc.sh
bash abc.sh
EOF
"""


def test_a_heredoc_body_and_its_terminator_are_not_commands() -> None:
    assert script_programs("cat <<EOF > /tmp/f\nEOF is text\nno-such-tool here\nEOF\nsort /tmp/f") == [
        "cat",
        "sort",
    ]
    # quoted words, `<<-` (leading tabs stripped from the body and the terminator), `<< WORD`
    assert script_programs("cat <<'END'\nnot-a-program\nEND\nwc -l x") == ["cat", "wc"]
    assert script_programs('cat << "END"\nnot-a-program\nEND') == ["cat"]
    assert script_programs("if true; then\n\tcat <<-END\n\tnot-a-program\n\tEND\nfi\nuniq x") == [
        "cat",
        "uniq",
    ]
    # two here-documents on one line: the bodies follow in order
    assert script_programs("paste /dev/fd/3 3<<A <<B\na-body\nA\nb-body\nB\ntr a b") == ["paste", "tr"]
    # `<<` inside quotes and the here-string `<<<` are not here-documents
    assert script_programs('echo "a << b"\ncut -c1 x') == ["cut"]
    assert script_programs('grep -q x <<< "$v"\nhead -1 y') == ["grep", "head"]
    # a body never closed runs to the end of the script (as sh reads it, with a warning)
    assert script_programs("cat <<EOF\nnot-a-program") == ["cat"]


def test_a_shell_reading_its_script_from_a_heredoc_is_read_in_turn() -> None:
    assert script_programs(SIGNALED_ONE) == ["/bin/bash", "apt", "bash"]
    assert script_programs("sh -s <<EOF\nnc -l 1\nEOF") == ["sh", "nc"]
    assert script_programs("bash -eu <<'X'\nset -x\njq . f\nX") == ["bash", "jq"]
    # a shell given a script file or `-c` reads the body as data, and so does python
    assert script_programs("bash run.sh <<EOF\nnot-a-program\nEOF") == ["bash"]
    assert script_programs("sh -c 'cat -n' <<EOF\nnot-a-program\nEOF") == ["sh"]
    assert script_programs("python3 - <<PY\nimport os\nPY") == ["python3"]
    # an unquoted data body's command substitutions run; a quoted one's do not
    assert script_programs("cat <<EOF\n$(hostname) and `uname -r`\nEOF") == ["cat", "hostname", "uname"]
    assert script_programs("cat <<'EOF'\n$(hostname)\nEOF") == ["cat"]


def test_package_managers_are_named() -> None:
    assert package_manager(["/bin/bash", "apt", "bash"]) == "apt"
    assert package_manager(["/sbin/apk", "x"]) == "/sbin/apk"
    assert package_manager(["cat", "pip"]) is None


def _container_set(tmp_path: Path, script: str) -> Path:
    """TestSignaledContainerSet's shape: bash -c with a here-document."""
    body = textwrap.indent(script, " " * 16)
    text = (
        "apiVersion: argoproj.io/v1alpha1\nkind: Workflow\nmetadata: {generateName: sig-}\n"
        "spec:\n  entrypoint: main\n  templates:\n  - name: main\n    containerSet:\n"
        "      containers:\n      - name: one\n        image: argoproj/argosay:v2\n"
        "        command: [bash, -c]\n        args:\n        - |\n" + body
    )
    path = tmp_path / "wf.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_script_that_installs_packages_is_refused_before_anything_runs(tmp_path: Path) -> None:
    """Never run apt/apk on the host: the check a local run makes first (argofile.check_local,
    nothing runs) refuses it at the container's command, the package manager named."""
    path = _container_set(tmp_path, SIGNALED_ONE)
    try:
        argofile.check_local(path)
    except NotSupportedError as e:
        message = str(e)
    else:
        raise AssertionError("a script running apt was not refused")
    assert message == (
        f"{path}:12:9: not supported by the local engine: image `argoproj/argosay:v2`: its script "
        "installs packages with `apt` (on the host it would change this machine, not an image) "
        "(run it on a cluster with `-e argo`)"
    )
    # a script template's source is read the same way
    wf = {
        "spec": {
            "templates": [
                {"name": "t", "script": {"image": "alpine", "command": [sh], "source": "apk add curl\n"}}
                for sh in ("sh",)
            ]
        }
    }
    found = [d.message for d in support.unsupported(wf, lambda p: (None, None))]
    assert found == [
        "not supported by the local engine: image `alpine`: its script installs packages with "
        "`apk` (on the host it would change this machine, not an image)"
    ]


def test_a_heredoc_of_host_programs_is_not_refused(tmp_path: Path) -> None:
    """TestSignaledContainerSet's second container: its here-document's `EOF` is no program."""
    argofile.check_local(_container_set(tmp_path, "/bin/bash <<'EOF'\necho \"hello world\"\nEOF\n"))
