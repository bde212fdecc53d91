mod common;
use common::*;
use datasync::source::{ConnectionKind, fetch};
use std::time::Duration;
#[test]
fn show() {
    for (kind, var) in [(ConnectionKind::Postgres, "DATASYNC_TEST_PG_URL"), (ConnectionKind::Mysql, "DATASYNC_TEST_MYSQL_URL")] {
        let url = std::env::var(var).unwrap();
        let c = connection(kind, &url);
        for sql in ["SELEC 1", "INSERT INTO nope VALUES (1)", "SELECT 1; SELECT 2", "SELECT ?"] {
            eprintln!("{kind:?} {sql}: {}", fetch(&c, &sql_query(sql)).unwrap_err());
        }
        eprintln!("{}", fetch(&connection(kind, &with_password(&url, "xx")), &sql_query("SELECT 1")).unwrap_err());
        eprintln!("{}", fetch(&connection(kind, &with_host(&url, &format!("127.0.0.1:{}", closed_port()))), &sql_query("SELECT 1")).unwrap_err());
        eprintln!("{}", fetch(&connection(kind, &with_host(&url, "nonexistent.invalid:5")), &sql_query("SELECT 1")).unwrap_err());
        let mut c2 = connection(kind, &with_host(&url, "10.255.255.1:5432")); c2.connect_timeout = Duration::from_secs(1);
        eprintln!("{}", fetch(&c2, &sql_query("SELECT 1")).unwrap_err());
        let t = std::time::Instant::now();
        let mut q = sql_query("SELECT SLEEP(5)"); if kind == ConnectionKind::Postgres { q.sql = Some("SELECT pg_sleep(5)".into()); }
        q.statement_timeout = Duration::from_secs(1);
        eprintln!("{:?} {:?}", fetch(&c, &q), t.elapsed());
        let mut q = sql_query("SELECT 1 AS a UNION ALL SELECT 2 UNION ALL SELECT 3"); q.max_rows = 2;
        eprintln!("{}", fetch(&c, &q).unwrap_err());
    }
}
