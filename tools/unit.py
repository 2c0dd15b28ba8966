"""Run pytest with the given arguments, then exit without the interpreter's teardown.

``make unit`` runs the unit tests through this file. Once a process has imported
TensorFlow, Python's own teardown at exit (its modules, then TensorFlow's C++
state) takes about 1.5 s on a 2-core CPU, after every test has run and pytest
has printed its summary. Here pytest and all its plugins finish as usual, the
output is flushed, and the process ends with pytest's exit code at once.
"""

import os
import sys

import pytest

if __name__ == "__main__":
    code = pytest.main(sys.argv[1:])
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(int(code))
