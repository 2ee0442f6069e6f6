//! The Redis pool: a connection in steady use is handed out without a round trip, one idle
//! for a while is checked first, and one that broke is replaced.

use std::time::{Duration, Instant};

use boom_cache::{Cache, redis};
use boom_testkit::TestContext;

async fn client_id(cache: &Cache) -> anyhow::Result<i64> {
    let mut conn = cache.connection().await?;
    Ok(redis::cmd("CLIENT")
        .arg("ID")
        .query_async(&mut conn)
        .await?)
}

async fn kill(id: i64) -> anyhow::Result<()> {
    let admin = redis::Client::open(boom_testkit::redis_url())?;
    let mut conn = admin.get_multiplexed_async_connection().await?;
    let killed: i64 = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("ID")
        .arg(id)
        .query_async(&mut conn)
        .await?;
    anyhow::ensure!(killed == 1, "client {id} was not there to kill");
    Ok(())
}

#[tokio::test]
async fn a_connection_in_steady_use_is_handed_out_without_asking_redis_first() -> anyhow::Result<()>
{
    let ctx = TestContext::new().await?;
    let cache = Cache::new(&ctx.settings.redis)?;
    // Consecutive uses of one connection, and how long each waited since the one before (the
    // pool checks a connection not handed out for 250 ms).
    let mut gaps = Vec::new();
    let mut previous: Option<Instant> = None;
    for _ in 0..30 {
        let handed = Instant::now();
        let mut conn = cache.connection().await?;
        if let Some(previous) = previous {
            gaps.push(handed - previous);
        }
        previous = Some(handed);
        let _: Option<String> = redis::cmd("GET")
            .arg(cache.key("steady"))
            .query_async(&mut conn)
            .await?;
    }
    // The pool measures from the last hand-out to this one's check; a stall of the machine
    // past 250 ms in between would rightly cost a check, so the count is only asserted when
    // no gap came near that.
    let checks = cache.connection_checks();
    let longest = gaps.iter().max().copied().unwrap_or_default();
    if longest < Duration::from_millis(150) {
        assert_eq!(checks, 0, "checks for gaps {gaps:?}");
    } else {
        eprintln!("a gap of {longest:?}: {checks} checks not asserted");
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let id = client_id(&cache).await?;
    assert_eq!(
        cache.connection_checks(),
        checks + 1,
        "a connection idle for 300 ms is checked before use"
    );
    assert!(id > 0);
    Ok(())
}

#[tokio::test]
async fn a_connection_that_broke_is_replaced_and_one_that_broke_idle_is_never_handed_out()
-> anyhow::Result<()> {
    let ctx = TestContext::new().await?;
    let cache = Cache::new(&ctx.settings.redis)?;

    // Broken moments after its last use: handed out unchecked, its next use fails (as a
    // connection breaking in use always could), and the pool then gives a new one.
    let first = client_id(&cache).await?;
    kill(first).await?;
    match client_id(&cache).await {
        Err(_) => {}
        // The machine stalled past 250 ms: the pool checked it first and replaced it.
        Ok(id) => assert_ne!(id, first, "a killed connection answered"),
    }
    let second = client_id(&cache).await?;
    assert_ne!(second, first);

    // Broken while idle: checked before it is handed out, replaced, and nobody sees an error.
    kill(second).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let third = client_id(&cache).await?;
    assert_ne!(third, second);
    let _: () = redis::cmd("SET")
        .arg(cache.key("after"))
        .arg(1)
        .query_async(&mut cache.connection().await?)
        .await?;
    Ok(())
}

/// A connection's id, asked twice in a row on each of `loops` single-threaded event loops run
/// one after the other on one thread of its own, while `together` more threads do the same
/// (as each of the gateway's HTTP workers runs one loop for its life).
fn ids_on_event_loops_of_one_thread(
    cache: &Cache,
    loops: usize,
    together: std::sync::Arc<std::sync::Barrier>,
) -> std::thread::JoinHandle<anyhow::Result<Vec<(i64, i64)>>> {
    let cache = cache.clone();
    std::thread::spawn(move || {
        let ids = ids_on_event_loops(&cache, loops);
        // Each thread's loops are done while the others' connections are all still held
        // (whether or not they answered).
        together.wait();
        ids
    })
}

/// The ids of [`ids_on_event_loops_of_one_thread`], on this thread.
fn ids_on_event_loops(cache: &Cache, loops: usize) -> anyhow::Result<Vec<(i64, i64)>> {
    let mut ids = Vec::new();
    for _ in 0..loops {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        // A connection whose reader died with an earlier loop never answers: bounded, so
        // that such a regression fails rather than hangs.
        ids.push(runtime.block_on(async {
            tokio::time::timeout(Duration::from_secs(5), async {
                let first = client_id(cache).await?;
                anyhow::Ok((first, client_id(cache).await?))
            })
            .await?
        })?);
    }
    Ok(ids)
}

/// Each single-threaded event loop takes its connections from a pool of its own (a
/// connection's reader runs on the loop that opened it) and keeps using the same one, two
/// loops at once have two, a thread that runs another loop opens another, and the tasks of
/// a multi-threaded runtime share another pool.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_single_threaded_event_loop_has_connections_of_its_own() -> anyhow::Result<()> {
    let ctx = TestContext::new().await?;
    let cache = Cache::new(&ctx.settings.redis)?;
    let shared = client_id(&cache).await?;
    assert_eq!(
        client_id(&cache).await?,
        shared,
        "the shared pool's last used"
    );
    let together = std::sync::Arc::new(std::sync::Barrier::new(2));
    let one = ids_on_event_loops_of_one_thread(&cache, 1, together.clone());
    let other = ids_on_event_loops_of_one_thread(&cache, 2, together);
    let join = |thread: std::thread::JoinHandle<anyhow::Result<Vec<(i64, i64)>>>| {
        thread
            .join()
            .map_err(|_| anyhow::anyhow!("an event loop's thread panicked"))?
    };
    let (one, other) =
        tokio::task::spawn_blocking(move || anyhow::Ok((join(one)?, join(other)?))).await??;
    let mut firsts = Vec::new();
    for (first, again) in one.iter().chain(&other) {
        assert_eq!(first, again, "a loop keeps using its connection");
        assert_ne!(
            *first, shared,
            "a loop's connection is not the shared pool's"
        );
        firsts.push(*first);
    }
    firsts.sort_unstable();
    firsts.dedup();
    assert_eq!(
        firsts.len(),
        3,
        "two threads at once, one of them running two loops in turn: three connections"
    );
    assert_eq!(client_id(&cache).await?, shared, "the shared pool's, still");
    Ok(())
}
