"""The libpq parameters the services' PostgreSQL pools get (config DATABASE):
a value the URL's query sets itself wins."""
import pytest
from sqlalchemy.engine import make_url

from infra.config.schema import DATABASE
from infra.nameko.database import postgres_connect_args

MULTI_HOST = ("postgresql+psycopg2://u:p@/convertix?host=pg1:5432&host=pg2:5432"
              "&target_session_attrs=read-write")


@pytest.mark.parametrize("url, settings, expected", [
    # the defaults: 5 s per host tried, a silent server dropped after 10 s
    (MULTI_HOST, {}, {"connect_timeout": 5, "tcp_user_timeout": 10000, "keepalives": 1,
                      "keepalives_idle": 5, "keepalives_interval": 1, "keepalives_count": 5}),
    (MULTI_HOST, {"connect_timeout_s": 2, "tcp_user_timeout_s": 3},
     {"connect_timeout": 2, "tcp_user_timeout": 3000, "keepalives": 1,
      "keepalives_idle": 1, "keepalives_interval": 1, "keepalives_count": 2}),
    # the URL's own values are left to it
    (MULTI_HOST + "&connect_timeout=9&keepalives=0", {"tcp_user_timeout_s": 1},
     {"tcp_user_timeout": 1000, "keepalives_idle": 1, "keepalives_interval": 1,
      "keepalives_count": 1}),
])
def test_connect_args(url, settings, expected):
    assert postgres_connect_args(make_url(url).query, DATABASE.resolve(settings)) == expected


def test_a_multi_host_url_reaches_libpq_as_host_and_port_lists():
    # SQLAlchemy's psycopg2 dialect turns repeated host= into libpq's lists
    url = make_url(MULTI_HOST)
    _args, kwargs = url.get_dialect()().create_connect_args(url)
    assert (kwargs["host"], kwargs["port"], kwargs["target_session_attrs"]) == (
        "pg1,pg2", "5432,5432", "read-write")


@pytest.mark.parametrize("value", [1, 0, "x"])
def test_a_connect_timeout_under_two_seconds_is_refused(value):
    # libpq takes 1 as 2 anyway; 0 waits for ever
    with pytest.raises(ValueError, match="connect_timeout_s"):
        DATABASE.resolve({"connect_timeout_s": value})
