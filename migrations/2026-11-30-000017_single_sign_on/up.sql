-- Single sign-on: a person signs in with the company's accounts (OpenID Connect, Infomaniak
-- first). `infomaniak_id` (unique since the first migration) holds the issuer's subject once a
-- person has signed in that way; `password_login` says whether their local password still
-- opens the dashboard (admins keep theirs as the way in when the issuer is down).
ALTER TABLE users
    ADD COLUMN password_login boolean NOT NULL DEFAULT true;
