"""PostgreSQL's data kept outside the stack directory (as root) belongs to that stack directory
only: a new stack directory at the same path (a fresh clone) starts from an empty database."""

from pathlib import Path

import pytest

from core.settings import Settings
from stack.services.postgres import HOME_PREFIX, OWNER_FILE, Postgres


class HomeOutside(Postgres):
    """A Postgres whose outside home is a temporary directory instead of the account's home."""

    outside: Path

    @property
    def home(self) -> Path:
        return self.outside


@pytest.fixture
def service(tmp_path: Path) -> HomeOutside:
    postgres = HomeOutside(settings=Settings(stack_dir=tmp_path / "stack"))
    postgres.outside = tmp_path / "postgres-home"
    postgres.run_as = "postgres"
    (postgres.outside / "data").mkdir(parents=True)
    (postgres.outside / "data" / "PG_VERSION").write_text("17\n")
    return postgres


def test_a_home_no_stack_directory_links_to_is_removed(service: HomeOutside) -> None:
    assert service.remove_orphaned_home()
    assert not service.outside.exists()


def test_the_stack_directorys_own_home_is_kept(service: HomeOutside) -> None:
    service.state_dir.mkdir(parents=True)
    service.data_link.symlink_to(service.data_dir)
    assert not service.remove_orphaned_home()
    assert (service.data_dir / "PG_VERSION").exists()


def test_without_an_outside_home_nothing_is_removed(service: HomeOutside) -> None:
    service.run_as = None
    assert not service.remove_orphaned_home()
    assert service.outside.exists()


def test_the_homes_of_stack_directories_that_are_gone_are_removed(
    service: HomeOutside, tmp_path: Path
) -> None:
    def home_of(name: str, stack_dir: Path | None) -> Path:
        home = tmp_path / f"{HOME_PREFIX}{name}"
        (home / "data").mkdir(parents=True)
        if stack_dir is not None:
            (home / OWNER_FILE).write_text(str(stack_dir))
        return home

    service.outside = home_of("ours", service.settings.stack_dir)
    gone = home_of("gone", tmp_path / "a-clone-since-deleted" / ".stack")
    alive = home_of("alive", tmp_path)
    unknown = home_of("unknown", None)  # from before homes said whose they are: left alone

    assert service.remove_homes_of_removed_stacks() == [gone]
    assert [h.exists() for h in (service.outside, gone, alive, unknown)] == [
        True,
        False,
        True,
        True,
    ]
