"""The example host's settings; any of them can be overridden from the environment as FLASK_<KEY>."""

from datetime import timedelta


class Config:
    SQLALCHEMY_DATABASE_URI = "sqlite:///host.sqlite"
    JWT_SECRET_KEY = None  # set FLASK_JWT_SECRET_KEY (32+ random bytes); never commit one
    JWT_ACCESS_TOKEN_EXPIRES = timedelta(minutes=15)  # a timedelta, as flask-jwt-extended's docs set it
    JWT_IDENTITY_CLAIM = "user"  # this app names its identity claim itself
