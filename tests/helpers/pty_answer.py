"""Runs a command in a pseudo-terminal and answers every Deno permission
prompt with `y`; prints the output (ANSI codes removed) and exits with the
command's exit code. Used by tests that need a terminal (Deno cannot open
one itself)."""
import os, pty, re, select, sys, time

pid, fd = pty.fork()
if pid == 0:
    os.execvp(sys.argv[1], sys.argv[1:])
out = b""
answered = 0
deadline = time.time() + 120
while time.time() < deadline:
    r, _, _ = select.select([fd], [], [], 0.2)
    if r:
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    n = out.count(b"[y/n/A]")
    if n > answered and out.rstrip().endswith(b">"):
        answered = n
        time.sleep(0.2)
        os.write(fd, b"y\n")
_, status = os.waitpid(pid, 0)
sys.stdout.write(re.sub(r"\x1b\[[0-9;?]*[a-zA-Z]", "", out.decode(errors="replace")))
sys.exit(os.waitstatus_to_exitcode(status))
