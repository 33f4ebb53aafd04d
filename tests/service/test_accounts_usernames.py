"""Usernames: 'alice\\n' was registered, and 'Alice' was
another user than 'alice'. Now one form, lower case, matched whole."""
import pytest
from nameko.testing.services import worker_factory
from nameko_sqlalchemy.database import DatabaseWrapper
from sqlalchemy import create_engine
from sqlalchemy.orm import sessionmaker

from convertix.contract import ACCOUNTS_SERVICE
from convertix.errors import ConvertixError, InvalidCredentials, UsernameTaken
from infra import migrations
from services.accounts.models import User
from services.accounts.service import AccountsService

PASSWORD = "correct horse battery"


@pytest.fixture
def service(tmp_path):
    url = f"sqlite:///{tmp_path}/accounts.db"
    migrations.upgrade({ACCOUNTS_SERVICE: url})
    return worker_factory(AccountsService, db=DatabaseWrapper(sessionmaker(bind=create_engine(url))))


@pytest.mark.parametrize("name", ["alice\n", "alice\r\n", " alice", "alice ", "al\nice", "alice\x00"])
def test_names_with_whitespace_or_controls_are_refused(service, name):
    with pytest.raises(ConvertixError) as exc:
        service.register(name, PASSWORD)
    assert exc.value.code == "BAD_REQUEST"


def test_names_are_one_user_whatever_their_case(service):
    user = service.register("Alice", PASSWORD)
    assert user["username"] == "alice"
    with pytest.raises(UsernameTaken):
        service.register("ALICE", PASSWORD)
    assert service.authenticate("aLiCe", PASSWORD)["id"] == user["id"]
    with pytest.raises(InvalidCredentials):
        service.authenticate("alice\n", PASSWORD)


def test_a_user_registered_before_lower_case_still_logs_in(service):
    from services.accounts.passwords import hash_password
    service.db.session.add(User(id="b" * 32, username="Bob", password_hash=hash_password(PASSWORD),
                                roles="", webhook_secret="s"))
    service.db.session.commit()
    assert service.authenticate("bob", PASSWORD)["id"] == "b" * 32
    with pytest.raises(UsernameTaken):
        service.register("bob", PASSWORD)
