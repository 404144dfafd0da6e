"""The data directory's lock: servers share it, a restore takes it alone, and each refuses the
other with a message that says what to do (the same lock the `runner db` tests meet through
real server processes)."""

from __future__ import annotations

import pytest

from runner.data_lock import DataDirBusy, restore_lock, server_lock


def test_servers_share_the_lock_and_a_restore_is_refused_while_one_holds_it(tmp_path):
    with server_lock(tmp_path), server_lock(tmp_path):
        with pytest.raises(DataDirBusy, match="a server is running .* stop it before restoring"):
            with restore_lock(tmp_path):
                pass
    with restore_lock(tmp_path):
        pass  # free again once the servers are gone


def test_a_server_does_not_start_while_a_restore_holds_the_lock(tmp_path):
    with restore_lock(tmp_path):
        with pytest.raises(DataDirBusy, match="a restore is writing the data directory"):
            with server_lock(tmp_path):
                pass
        with pytest.raises(DataDirBusy):
            with restore_lock(tmp_path):
                pass
    with server_lock(tmp_path):
        pass
