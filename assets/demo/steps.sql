-- Data changes applied one step at a time by `datasync demo`.
-- Each step starts with a line "-- step: <title>"; its statements run together.

-- step: Globex and Umbrella Health lose usage; Initech's enterprise deal grows past 100k
UPDATE account_usage SET this_week = 52000 WHERE account_id = 'acc-002';
UPDATE account_usage SET this_week = 6100  WHERE account_id = 'acc-004';
UPDATE deals SET amount = 125000, stage = 'negotiation' WHERE id = 103;
UPDATE feature_adoption SET enabled = 1, active_users = 64 WHERE account = 'Account 03';

-- step: Globex recovers, Umbrella drops further, Wayne recovers; a new 240k deal for Eve
UPDATE account_usage SET this_week = 95500 WHERE account_id = 'acc-002';
UPDATE account_usage SET this_week = 2900  WHERE account_id = 'acc-004';
UPDATE account_usage SET this_week = 29800 WHERE account_id = 'acc-006';
INSERT INTO deals VALUES (106, 'Globex platform migration', 'Globex', 240000, 'proposal', 'eve.ross@example.com');
INSERT INTO signups (created_at, plan, country)
    VALUES (datetime(date('now', '-1 day'), '+22 hours'), 'enterprise', 'JP');

-- step: A quiet day: a sub-threshold deal changes and one big deal is lost
UPDATE deals SET amount = 19000 WHERE id = 104;
DELETE FROM deals WHERE id = 105;
