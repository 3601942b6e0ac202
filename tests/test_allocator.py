"""The commands start under tcmalloc (jaxbench.train.allocator), and only the commands do."""
import io
import json
import os
import subprocess
import sys
import textwrap

from jaxbench.train import allocator

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

PROBE = textwrap.dedent("""
    import json, os, subprocess, sys
    from jaxbench.train import allocator
    allocator.reexec_with_tcmalloc()
    child = subprocess.run([sys.executable, "-c", "import os; print(os.environ.get('LD_PRELOAD', ''))"],
                           capture_output=True, text=True, check=True).stdout.strip()
    print(json.dumps({"pid": os.getpid(), "loaded": allocator.loaded(), "argv": sys.argv[1:],
                      "preload": os.environ.get("LD_PRELOAD", ""), "child_preload": child}))
""")


def _probe(tmp_path, env_extra):
  script = tmp_path / "probe.py"
  script.write_text(PROBE)
  env = dict(os.environ, **env_extra)
  env.pop("LD_PRELOAD", None)
  proc = subprocess.Popen([sys.executable, str(script), "a", "--b=c"], env=env, cwd=REPO,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
  out, err = proc.communicate(timeout=60)
  assert proc.returncode == 0, err
  return proc.pid, json.loads(out.strip().splitlines()[-1]), err


def test_the_system_has_tcmalloc():
  # The README's commands install it (apt-get install libtcmalloc-minimal4).
  assert allocator.find_library() is not None, allocator.INSTALL_HINT


def test_a_command_reexecutes_itself_under_tcmalloc_and_its_children_do_not_inherit_it(tmp_path):
  pid, seen, err = _probe(tmp_path, {"JAXBENCH_TCMALLOC": "1"})
  assert seen["loaded"] is True
  assert seen["pid"] == pid                       # os.execve: the same process, not a child
  assert seen["argv"] == ["a", "--b=c"]           # the same command line
  assert seen["preload"] == "" and seen["child_preload"] == ""   # LD_PRELOAD put back
  assert "note" not in err


def test_opt_out_keeps_the_c_library_malloc_silently(tmp_path):
  _, seen, err = _probe(tmp_path, {"JAXBENCH_TCMALLOC": "0"})
  assert seen["loaded"] is False and err == ""


def test_a_preload_that_was_already_there_is_kept_for_children(tmp_path):
  env = {"JAXBENCH_TCMALLOC": "1"}
  script = tmp_path / "probe.py"
  script.write_text(PROBE)
  full = dict(os.environ, **env, LD_PRELOAD="libm.so.6")
  out = subprocess.run([sys.executable, str(script)], env=full, cwd=REPO, capture_output=True,
                       text=True, timeout=60, check=True).stdout
  seen = json.loads(out.strip().splitlines()[-1])
  assert seen["loaded"] is True
  assert seen["preload"] == "libm.so.6" and seen["child_preload"] == "libm.so.6"


def test_missing_tcmalloc_is_one_note_and_the_command_goes_on(monkeypatch):
  monkeypatch.setattr(allocator, "loaded", lambda maps_path="": False)
  monkeypatch.setattr(allocator, "find_library", lambda finder=None: None)
  calls, err = [], io.StringIO()
  decided = allocator.reexec_with_tcmalloc(argv=["x"], environ={}, execv=lambda *a: calls.append(a),
                                           stderr=err)
  assert decided == "missing" and calls == []
  lines = err.getvalue().strip().splitlines()
  assert len(lines) == 1 and "apt-get install libtcmalloc-minimal4" in lines[0]


def test_a_preload_that_did_not_take_never_loops(monkeypatch):
  monkeypatch.setattr(allocator, "loaded", lambda maps_path="": False)
  environ = allocator.reexec_environment({"LD_PRELOAD": "libm.so.6", "HOME": "/h"},
                                         "libtcmalloc_minimal.so.4")
  assert environ["LD_PRELOAD"] == "libtcmalloc_minimal.so.4 libm.so.6"
  calls, err = [], io.StringIO()
  decided = allocator.reexec_with_tcmalloc(argv=["x"], environ=environ,
                                           execv=lambda *a: calls.append(a), stderr=err)
  assert decided == "failed" and calls == []
  assert environ == {"LD_PRELOAD": "libm.so.6", "HOME": "/h"}


def test_the_bench_command_measures_under_tcmalloc(tmp_path):
  path = tmp_path / "rows.json"
  env = {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", "JAXBENCH_TCMALLOC")}
  result = subprocess.run(
      [sys.executable, "-m", "jaxbench.bench", "--problems=quadratic_deep", "--num_seeds=1",
       "--seconds=0.1", "--windows=1", "--optimizer=sgd", f"--json={path}"],
      env=env, cwd=REPO, capture_output=True, text=True, timeout=600)
  assert result.returncode == 0, result.stderr[-2000:]
  assert "allocator tcmalloc" in result.stdout
  assert [row["allocator"] for row in json.loads(path.read_text())] == ["tcmalloc"]
