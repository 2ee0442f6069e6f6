//! The bus against the real NATS server: dedupe, ack after the side effect, nak and term,
//! request/reply, trace context.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use boom_bus::{Bus, BusError, BusMetrics, HandleError};
use boom_contracts::messages::{BusMessage, ControlReply, ControlRequest, PhotomatonAction};
use boom_contracts::{AgentBatchAccepted, PhotomatonId, StreamKind};
use boom_telemetry::TraceContext;
use boom_testkit::TestContext;
use tokio_util::sync::CancellationToken;

use crate::helpers::eventually;

fn batch(id: uuid::Uuid) -> anyhow::Result<AgentBatchAccepted> {
    Ok(AgentBatchAccepted {
        batch_id: id,
        paper_level: Some(698),
        ..crate::pipeline::accepted(PhotomatonId(1), "boom-01", 2, chrono::Utc::now())?
    })
}

async fn bus(ctx: &TestContext) -> anyhow::Result<Bus> {
    let bus = Bus::connect(&ctx.settings.nats, "test", BusMetrics::default()).await?;
    for &kind in StreamKind::ALL {
        bus.ensure_stream(kind).await?;
    }
    Ok(bus)
}

#[tokio::test]
async fn a_batch_published_twice_is_stored_once() -> anyhow::Result<()> {
    let ctx = TestContext::new().await?;
    let bus = bus(&ctx).await?;
    let message = batch(uuid::Uuid::new_v4())?;
    assert!(
        !bus.publish(&message).await?,
        "first publish is not a duplicate"
    );
    assert!(
        bus.publish(&message).await?,
        "second publish is recognised as a duplicate"
    );
    let mut stream = bus.ensure_stream(StreamKind::Stats).await?;
    assert_eq!(stream.info().await?.state.messages, 1);
    Ok(())
}

/// Runs a consumer whose handler answers from `script` (one outcome per delivery, then Ok),
/// and records what it saw.
async fn consume_scripted(
    bus: &Bus,
    script: Vec<Result<(), HandleError>>,
) -> (
    Arc<Mutex<Vec<uuid::Uuid>>>,
    CancellationToken,
    tokio::task::JoinHandle<Result<(), BusError>>,
) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let script = Arc::new(Mutex::new(script.into_iter()));
    let cancel = CancellationToken::new();
    let handle = {
        let (bus, seen, cancel) = (bus.clone(), seen.clone(), cancel.clone());
        tokio::spawn(async move {
            bus.consume(
                StreamKind::Stats,
                StreamKind::Stats.gateway_consumer(),
                move |m: AgentBatchAccepted| {
                    let (seen, script) = (seen.clone(), script.clone());
                    async move {
                        if let Ok(mut seen) = seen.lock() {
                            seen.push(m.batch_id);
                        }
                        script
                            .lock()
                            .ok()
                            .and_then(|mut s| s.next())
                            .unwrap_or(Ok(()))
                    }
                },
                cancel,
            )
            .await
        })
    };
    (seen, cancel, handle)
}

fn count(seen: &Arc<Mutex<Vec<uuid::Uuid>>>) -> usize {
    seen.lock().map(|s| s.len()).unwrap_or(0)
}

#[tokio::test]
async fn a_transient_failure_is_redelivered_and_a_success_is_not() -> anyhow::Result<()> {
    let ctx = TestContext::new().await?;
    let bus = bus(&ctx).await?;
    let (seen, cancel, handle) = consume_scripted(
        &bus,
        vec![Err(HandleError::Transient("database restarting".into()))],
    )
    .await;
    bus.publish(&batch(uuid::Uuid::new_v4())?).await?;
    eventually(Duration::from_secs(10), || async { Ok(count(&seen) == 2) }).await?;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        count(&seen),
        2,
        "acked after the second delivery, never again"
    );
    cancel.cancel();
    handle.await??;
    Ok(())
}

#[tokio::test]
async fn a_poison_message_is_terminated_and_does_not_block_the_next() -> anyhow::Result<()> {
    let ctx = TestContext::new().await?;
    let mut registry = prometheus_client::registry::Registry::default();
    let bus = Bus::connect(
        &ctx.settings.nats,
        "test",
        BusMetrics::register(&mut registry),
    )
    .await?;
    bus.ensure_stream(StreamKind::Stats).await?;
    let (seen, cancel, handle) = consume_scripted(
        &bus,
        vec![Err(HandleError::Poison("violates an invariant".into()))],
    )
    .await;
    let (first, second) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
    bus.publish(&batch(first)?).await?;
    // A payload that is not an AgentBatchAccepted at all.
    bus.client()
        .publish(
            AgentBatchAccepted::subject(bus.namespace()),
            "{not json".into(),
        )
        .await?;
    bus.publish(&batch(second)?).await?;
    eventually(Duration::from_secs(10), || async { Ok(count(&seen) == 2) }).await?;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        seen.lock().map(|s| s.clone()).unwrap_or_default(),
        vec![first, second]
    );
    cancel.cancel();
    handle.await??;
    Ok(())
}

#[tokio::test]
async fn a_message_in_hand_is_finished_when_the_consumer_is_stopped() -> anyhow::Result<()> {
    let ctx = TestContext::new().await?;
    let bus = bus(&ctx).await?;
    let cancel = CancellationToken::new();
    let finished = Arc::new(Mutex::new(false));
    let handle = {
        let (bus, cancel, finished) = (bus.clone(), cancel.clone(), finished.clone());
        let stopper = cancel.clone();
        tokio::spawn(async move {
            bus.consume(
                StreamKind::Stats,
                "slow",
                move |_: AgentBatchAccepted| {
                    let (finished, stopper) = (finished.clone(), stopper.clone());
                    async move {
                        stopper.cancel(); // SIGTERM arrives while the message is in hand
                        tokio::time::sleep(Duration::from_millis(300)).await;
                        if let Ok(mut f) = finished.lock() {
                            *f = true;
                        }
                        Ok(())
                    }
                },
                cancel,
            )
            .await
        })
    };
    bus.publish(&batch(uuid::Uuid::new_v4())?).await?;
    tokio::time::timeout(Duration::from_secs(10), handle).await???;
    assert!(finished.lock().map(|f| *f).unwrap_or(false));
    let info = crate::helpers::stats_consumer(&bus, "slow").await?;
    assert_eq!(
        (info.num_ack_pending, info.num_pending),
        (0, 0),
        "the finished message was acked"
    );
    Ok(())
}

#[tokio::test]
async fn the_trace_context_travels_with_the_message() -> anyhow::Result<()> {
    let ctx = TestContext::new().await?;
    let bus = bus(&ctx).await?;
    let seen = Arc::new(Mutex::new(None));
    let cancel = CancellationToken::new();
    let handle = {
        let (bus, seen, cancel) = (bus.clone(), seen.clone(), cancel.clone());
        tokio::spawn(async move {
            bus.consume(
                StreamKind::Stats,
                "trace",
                move |_: AgentBatchAccepted| {
                    let seen = seen.clone();
                    async move {
                        if let Ok(mut s) = seen.lock() {
                            *s = TraceContext::current().map(|t| t.trace_id());
                        }
                        Ok(())
                    }
                },
                cancel,
            )
            .await
        })
    };
    let origin = TraceContext::new_root();
    origin
        .scope(bus.publish(&batch(uuid::Uuid::new_v4())?))
        .await?;
    eventually(Duration::from_secs(10), || async {
        Ok(seen.lock().map(|s| s.is_some()).unwrap_or(false))
    })
    .await?;
    assert_eq!(
        seen.lock().ok().and_then(|s| s.clone()),
        Some(origin.trace_id())
    );
    cancel.cancel();
    handle.await??;
    Ok(())
}

#[tokio::test]
async fn a_request_without_responders_fails_fast_and_clearly() -> anyhow::Result<()> {
    let ctx = TestContext::new().await?;
    let bus = bus(&ctx).await?;
    let request = ControlRequest {
        action_id: uuid::Uuid::new_v4(),
        photomaton_id: PhotomatonId(7),
        action: PhotomatonAction::PowerOn,
        requested_by: None,
    };
    let started = std::time::Instant::now();
    let error = bus.request(&request).await.err();
    assert!(
        matches!(error, Some(BusError::NoResponders(_))),
        "{error:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "no-responders must not wait for the timeout"
    );

    let cancel = CancellationToken::new();
    let server = {
        let (bus, cancel) = (bus.clone(), cancel.clone());
        tokio::spawn(async move {
            bus.serve(
                |r: ControlRequest| async move {
                    ControlReply {
                        action_id: r.action_id,
                        ok: true,
                        message: format!("woke {}", r.photomaton_id),
                        code: None,
                    }
                },
                cancel,
            )
            .await
        })
    };
    // The subscription may take a moment to reach the server.
    eventually(Duration::from_secs(5), || async {
        Ok(bus.request(&request).await.is_ok())
    })
    .await?;
    let reply = bus.request(&request).await?;
    assert_eq!((reply.ok, reply.message), (true, "woke 7".to_owned()));
    cancel.cancel();
    server.await??;
    Ok(())
}

/// Batch number `seq` of `booth` (carried as its backlog), for the lanes' tests.
fn numbered(booth: i32, seq: i64) -> anyhow::Result<AgentBatchAccepted> {
    Ok(AgentBatchAccepted {
        batch_id: uuid::Uuid::new_v4(),
        backlog: Some(seq),
        ..crate::pipeline::accepted(
            PhotomatonId(booth),
            &format!("boom-{booth:02}"),
            1,
            chrono::Utc::now(),
        )?
    })
}

/// The recorder's lane key: the booth.
fn by_booth(message: &AgentBatchAccepted) -> u64 {
    u64::from(message.photomaton_id.0.unsigned_abs())
}

/// Runs a consumer like the recorder's (two lanes by booth, groups of up to 128 a lane) with
/// `handler` until `cancel`.
fn two_lanes<F, Fut>(
    bus: &Bus,
    cancel: &CancellationToken,
    handler: F,
) -> tokio::task::JoinHandle<Result<(), BusError>>
where
    F: Fn(Vec<AgentBatchAccepted>) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<(), HandleError>> + Send + 'static,
{
    let (bus, cancel) = (bus.clone(), cancel.clone());
    tokio::spawn(async move {
        bus.consume_lanes(
            StreamKind::Stats,
            StreamKind::Stats.gateway_consumer(),
            256,
            2,
            by_booth,
            handler,
            cancel,
        )
        .await
    })
}

/// The recorder's lanes: what arrived is split by key, the lanes' handlers run at the same
/// time, every message is handled once, and each key's messages stay in order.
#[tokio::test]
async fn lanes_run_side_by_side_and_keep_each_keys_order() -> anyhow::Result<()> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let ctx = TestContext::new().await?;
    let bus = bus(&ctx).await?;
    for seq in 0..15 {
        for booth in 1..=4 {
            bus.publish(&numbered(booth, seq)?).await?;
        }
    }
    // Each group the handler got, as (booth, sequence) pairs.
    type Groups = Arc<Mutex<Vec<Vec<(i32, i64)>>>>;
    let seen: Groups = Arc::default();
    let (running, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let cancel = CancellationToken::new();
    let handle = {
        let (seen, running, most) = (seen.clone(), running.clone(), most.clone());
        two_lanes(&bus, &cancel, move |group: Vec<AgentBatchAccepted>| {
            let (seen, running, most) = (seen.clone(), running.clone(), most.clone());
            async move {
                let now_running = running.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now_running, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(100)).await;
                running.fetch_sub(1, Ordering::SeqCst);
                let group = group
                    .iter()
                    .map(|m| (m.photomaton_id.0, m.backlog.unwrap_or(-1)))
                    .collect();
                if let Ok(mut seen) = seen.lock() {
                    seen.push(group);
                }
                Ok(())
            }
        })
    };
    let handled = || {
        seen.lock()
            .map(|s| s.iter().map(Vec::len).sum::<usize>())
            .unwrap_or(0)
    };
    eventually(Duration::from_secs(20), || async { Ok(handled() >= 60) }).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    cancel.cancel();
    handle.await??;

    let groups = seen.lock().map(|s| s.clone()).unwrap_or_default();
    assert_eq!(groups.iter().map(Vec::len).sum::<usize>(), 60, "each once");
    for group in &groups {
        assert!(
            group.iter().all(|(booth, _)| booth % 2 == group[0].0 % 2),
            "a group holds one lane's booths: {group:?}"
        );
    }
    for booth in 1..=4 {
        let order: Vec<i64> = groups
            .iter()
            .flatten()
            .filter(|(b, _)| *b == booth)
            .map(|(_, seq)| *seq)
            .collect();
        assert_eq!(order, (0..15).collect::<Vec<_>>(), "booth {booth} in order");
    }
    assert_eq!(most.load(Ordering::SeqCst), 2, "both lanes ran at once");
    Ok(())
}

/// A lane busy with a slow commit holds back no other lane (while it has room for what
/// arrives for it): booth 1's messages, published one by one while booth 2's first group is
/// still being handled, are all handled (each waits for the one before it) before that group
/// is done.
#[tokio::test]
async fn a_slow_lane_does_not_hold_back_the_others() -> anyhow::Result<()> {
    let ctx = TestContext::new().await?;
    let bus = bus(&ctx).await?;
    // (booth, sequence) in the order handled; booth 2's group is slow while `slow` is open.
    let handled: Arc<Mutex<Vec<(i32, i64)>>> = Arc::default();
    let (slow, slow_ends) = tokio::sync::watch::channel(false);
    let cancel = CancellationToken::new();
    let consumer = {
        let handled = handled.clone();
        two_lanes(&bus, &cancel, move |group: Vec<AgentBatchAccepted>| {
            let handled = handled.clone();
            let mut slow_ends = slow_ends.clone();
            async move {
                if group.iter().any(|m| m.photomaton_id == PhotomatonId(2)) {
                    let _ = slow_ends.wait_for(|ended| *ended).await;
                }
                if let Ok(mut handled) = handled.lock() {
                    handled.extend(
                        group
                            .iter()
                            .map(|m| (m.photomaton_id.0, m.backlog.unwrap_or(-1))),
                    );
                }
                Ok(())
            }
        })
    };
    let seen = |booth: i32| {
        handled
            .lock()
            .map(|h| h.iter().filter(|(b, _)| *b == booth).count())
            .unwrap_or(0)
    };
    bus.publish(&numbered(2, 0)?).await?;
    bus.publish(&numbered(1, 0)?).await?;
    for seq in 1..=5 {
        eventually(Duration::from_secs(10), || async { Ok(seen(1) == seq) }).await?;
        bus.publish(&numbered(1, seq as i64)?).await?;
    }
    eventually(Duration::from_secs(10), || async { Ok(seen(1) == 6) }).await?;
    assert_eq!(seen(2), 0, "booth 2's group is still in hand");
    slow.send(true)?;
    eventually(Duration::from_secs(10), || async { Ok(seen(2) >= 1) }).await?;
    cancel.cancel();
    consumer.await??;
    let order: Vec<i64> = handled
        .lock()
        .map(|h| h.iter().filter(|(b, _)| *b == 1).map(|(_, s)| *s).collect())
        .unwrap_or_default();
    assert_eq!(order, (0..=5).collect::<Vec<_>>(), "booth 1 in order");
    Ok(())
}

/// Stopped while one lane is full and the pull waits for it, the consumer still returns once
/// the group in hand is done: it handles what the lane held, in order and once each, and
/// pulls nothing more.
#[tokio::test]
async fn a_consumer_stopped_with_a_full_lane_finishes_what_it_holds_and_returns()
-> anyhow::Result<()> {
    let ctx = TestContext::new().await?;
    let bus = bus(&ctx).await?;
    for seq in 0..300 {
        bus.publish(&numbered(2, seq)?).await?;
    }
    let handled: Arc<Mutex<Vec<i64>>> = Arc::default();
    let (release, held) = tokio::sync::watch::channel(false);
    let cancel = CancellationToken::new();
    let consumer = {
        let handled = handled.clone();
        two_lanes(&bus, &cancel, move |group: Vec<AgentBatchAccepted>| {
            let (handled, mut held) = (handled.clone(), held.clone());
            async move {
                let _ = held.wait_for(|released| *released).await;
                if let Ok(mut handled) = handled.lock() {
                    handled.extend(group.iter().map(|m| m.backlog.unwrap_or(-1)));
                }
                Ok(())
            }
        })
    };
    // The first group is held; the lane fills up behind it and the pull waits for room.
    tokio::time::sleep(Duration::from_secs(1)).await;
    cancel.cancel();
    release.send(true)?;
    tokio::time::timeout(Duration::from_secs(10), consumer).await???;
    let handled = handled.lock().map(|h| h.clone()).unwrap_or_default();
    assert!(
        !handled.is_empty() && handled.len() < 300,
        "what it held, not the rest: {}",
        handled.len()
    );
    assert_eq!(
        handled,
        (0..handled.len() as i64).collect::<Vec<_>>(),
        "in order, once each"
    );
    Ok(())
}

/// A slow commit does not get the messages it holds delivered again: with a 3 s ack wait,
/// booth 2's first group is held for 8 s while 39 more of its batches wait in its lane behind
/// it. Each batch is handled once, in order, and JetStream redelivered none of them.
#[tokio::test]
async fn messages_held_past_the_ack_wait_are_kept_alive_not_delivered_again() -> anyhow::Result<()>
{
    let ctx = TestContext::new().await?;
    let bus = bus(&ctx).await?.with_ack_wait(Duration::from_secs(3));
    let handled: Arc<Mutex<Vec<i64>>> = Arc::default();
    let (release, held) = tokio::sync::watch::channel(false);
    let (entered, mut in_hand) = tokio::sync::watch::channel(0usize);
    let cancel = CancellationToken::new();
    let consumer = {
        let handled = handled.clone();
        two_lanes(&bus, &cancel, move |group: Vec<AgentBatchAccepted>| {
            let (handled, mut held) = (handled.clone(), held.clone());
            entered.send_modify(|groups| *groups += 1);
            async move {
                let _ = held.wait_for(|released| *released).await;
                if let Ok(mut handled) = handled.lock() {
                    handled.extend(group.iter().map(|m| m.backlog.unwrap_or(-1)));
                }
                Ok(())
            }
        })
    };
    bus.publish(&numbered(2, 0)?).await?;
    tokio::time::timeout(
        Duration::from_secs(10),
        in_hand.wait_for(|groups| *groups == 1),
    )
    .await??;
    for seq in 1..40 {
        bus.publish(&numbered(2, seq)?).await?;
    }
    // Past two ack waits with the first group in hand and the rest in the lane.
    tokio::time::sleep(Duration::from_secs(8)).await;
    release.send(true)?;
    let count = || handled.lock().map(|h| h.len()).unwrap_or(0);
    eventually(Duration::from_secs(10), || async { Ok(count() >= 40) }).await?;
    // Past another ack wait: a copy delivered again would have been handled by now.
    tokio::time::sleep(Duration::from_secs(4)).await;
    cancel.cancel();
    tokio::time::timeout(Duration::from_secs(10), consumer).await???;
    let handled = handled.lock().map(|h| h.clone()).unwrap_or_default();
    assert_eq!(handled, (0..40).collect::<Vec<_>>(), "in order, once each");
    let info = crate::helpers::stats_consumer(&bus, StreamKind::Stats.gateway_consumer()).await?;
    assert_eq!(
        info.config.ack_wait,
        Duration::from_secs(3),
        "the bus's ack wait"
    );
    assert_eq!(
        (info.num_redelivered, info.num_ack_pending),
        (0, 0),
        "{info:?}"
    );
    Ok(())
}

/// A message handed to its own task (`consume_each`, the notifier's deliveries) is kept alive
/// while its handler runs: with a 3 s ack wait, a handler that takes 8 s is called once, for
/// the first delivery, and JetStream redelivered nothing.
#[tokio::test]
async fn a_slow_handler_of_consume_each_is_not_delivered_again() -> anyhow::Result<()> {
    use boom_bus::Settle;
    let ctx = TestContext::new().await?;
    let bus = bus(&ctx).await?.with_ack_wait(Duration::from_secs(3));
    bus.publish(&numbered(1, 0)?).await?;
    // The deliveries each call was told of.
    let calls: Arc<Mutex<Vec<i64>>> = Arc::default();
    let cancel = CancellationToken::new();
    let consumer = {
        let (bus, cancel, calls) = (bus.clone(), cancel.clone(), calls.clone());
        tokio::spawn(async move {
            bus.consume_each(
                StreamKind::Stats,
                "slow-each",
                4,
                move |_: AgentBatchAccepted, delivered| {
                    let calls = calls.clone();
                    async move {
                        if let Ok(mut calls) = calls.lock() {
                            calls.push(delivered);
                        }
                        tokio::time::sleep(Duration::from_secs(8)).await;
                        Settle::Done
                    }
                },
                cancel,
            )
            .await
        })
    };
    let called = || calls.lock().map(|c| c.len()).unwrap_or(0);
    eventually(Duration::from_secs(10), || async { Ok(called() >= 1) }).await?;
    // Past the handler's 8 s and one more ack wait.
    tokio::time::sleep(Duration::from_secs(12)).await;
    cancel.cancel();
    tokio::time::timeout(Duration::from_secs(15), consumer).await???;
    assert_eq!(calls.lock().map(|c| c.clone()).unwrap_or_default(), vec![1]);
    let info = crate::helpers::stats_consumer(&bus, "slow-each").await?;
    assert_eq!(
        info.config.ack_wait,
        Duration::from_secs(3),
        "the bus's ack wait"
    );
    assert_eq!(
        (info.num_redelivered, info.num_ack_pending),
        (0, 0),
        "{info:?}"
    );
    Ok(())
}
