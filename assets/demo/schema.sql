-- The Data Sync demo database: a small SaaS company's warehouse.
-- Built fresh by `datasync demo` (dates are relative to today, so the daily summary has a
-- "yesterday" and a "same day last month").

CREATE TABLE account_usage (
    account_id  TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    owner_email TEXT NOT NULL,
    last_week   INTEGER NOT NULL,   -- events in the previous full week
    this_week   INTEGER NOT NULL    -- events in the current week
);

INSERT INTO account_usage VALUES
    ('acc-001', 'Acme Corp',        'ann.lee@example.com',   182400, 179950),
    ('acc-002', 'Globex',           'bob.stone@example.com',  96120,  91000),
    ('acc-003', 'Initech',          'ann.lee@example.com',    45230,  47010),
    ('acc-004', 'Umbrella Health',  'cara.diaz@example.com',  12880,  13020),
    ('acc-005', 'Stark Logistics',  'bob.stone@example.com', 250300, 248100),
    ('acc-006', 'Wayne Analytics',  'cara.diaz@example.com',  30550,  10200);

CREATE TABLE deals (
    id        INTEGER PRIMARY KEY,
    name      TEXT NOT NULL,
    account   TEXT NOT NULL,
    amount    NUMERIC NOT NULL,
    stage     TEXT NOT NULL,
    ae_email  TEXT NOT NULL
);

INSERT INTO deals VALUES
    (101, 'Acme renewal 2027',        'Acme Corp',       180000, 'negotiation', 'dan.ng@example.com'),
    (102, 'Globex analytics add-on',  'Globex',           42000, 'proposal',    'eve.ross@example.com'),
    (103, 'Initech enterprise',       'Initech',          95000, 'discovery',   'dan.ng@example.com'),
    (104, 'Umbrella pilot',           'Umbrella Health',  18500, 'proposal',    'eve.ross@example.com'),
    (105, 'Stark global rollout',     'Stark Logistics', 410000, 'negotiation', 'dan.ng@example.com');

CREATE TABLE signups (
    id         INTEGER PRIMARY KEY,
    created_at TEXT NOT NULL,   -- UTC, ISO-8601
    plan       TEXT NOT NULL,
    country    TEXT NOT NULL
);

-- Yesterday: 23 sign-ups; the same day last month: 17 (spread over plans).
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 23)
INSERT INTO signups (created_at, plan, country)
SELECT datetime(date('now', '-1 day'), printf('+%d minutes', i * 53)),
       CASE WHEN i % 5 = 0 THEN 'enterprise' WHEN i % 2 = 0 THEN 'team' ELSE 'free' END,
       CASE i % 4 WHEN 0 THEN 'DE' WHEN 1 THEN 'US' WHEN 2 THEN 'FR' ELSE 'BR' END
FROM n;

WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 17)
INSERT INTO signups (created_at, plan, country)
SELECT datetime(date('now', '-1 day', '-1 month'), printf('+%d minutes', i * 61)),
       CASE WHEN i % 6 = 0 THEN 'enterprise' WHEN i % 3 = 0 THEN 'team' ELSE 'free' END,
       CASE i % 3 WHEN 0 THEN 'DE' WHEN 1 THEN 'US' ELSE 'IN' END
FROM n;

CREATE TABLE feature_adoption (
    account      TEXT PRIMARY KEY,
    enabled      INTEGER NOT NULL,   -- 1 if the account turned the feature on
    active_users INTEGER NOT NULL,
    seats        INTEGER NOT NULL
);

-- 45 accounts, so the digest needs three messages of up to 20 rows.
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 45)
INSERT INTO feature_adoption
SELECT printf('Account %02d', i), i % 3 <> 0, (i * 37) % 120, 120 FROM n;
