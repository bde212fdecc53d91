mod common;
use common::*;
use datasync::source::{ConnectionKind, fetch};
#[test]
fn measure() {
    for (kind, var, sql) in [
        (
            ConnectionKind::Postgres,
            "DATASYNC_TEST_PG_URL",
            "SELECT g AS id, 'name ' || g AS name, (g * 1.25)::numeric(12,2) AS amount, now() AS ts, g % 2 = 0 AS flag FROM generate_series(1, 200000) g",
        ),
        (
            ConnectionKind::Mysql,
            "DATASYNC_TEST_MYSQL_URL",
            "SELECT seq AS id, CONCAT('name ', seq) AS name, CAST(seq * 1.25 AS DECIMAL(12,2)) AS amount, NOW() AS ts, seq % 2 = 0 AS flag FROM seq_1_to_200000",
        ),
    ] {
        let url = std::env::var(var).unwrap();
        let mut q = sql_query(sql);
        q.max_rows = 1_000_000;
        let t = std::time::Instant::now();
        let rows = fetch(&connection(kind, &url), &q).unwrap();
        eprintln!(
            "{kind:?}: {} rows x {} cols in {:?}",
            rows.rows.len(),
            rows.columns.len(),
            t.elapsed()
        );
    }
}
