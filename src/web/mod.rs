//! The actix-web application: pages, JSON API and the check endpoint.

pub mod admin;
pub mod api;
mod authz;
mod pages;
mod portal;

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::{middleware, web, App, HttpResponse, HttpServer};
use chrono::Utc;

use crate::config::Config;
use crate::error::Error;
use crate::gate::shared::SharedThrottle;
use crate::gate::Gate;
use crate::store::{self, Db, Store};

/// What every handler can reach.
pub struct AppState {
    pub store: Store,
    pub config: Config,
    pub gate: Arc<Gate>,
    pub logins: admin::LoginThrottle,
    pub bill_runs: admin::billing::RunJobs,
}

impl AppState {
    /// Runs blocking database work on the blocking pool, off the async workers.
    pub async fn db<T, F>(&self, f: F) -> Result<T, Error>
    where
        F: FnOnce(&mut Db) -> Result<T, Error> + Send + 'static,
        T: Send + 'static,
    {
        let store = self.store.clone();
        web::block(move || {
            let mut conn = store.conn()?;
            f(&mut conn)
        })
        .await
        .map_err(|e| Error::Internal(format!("blocking task failed: {e}")))?
    }

    /// Reloads keys into the gate's index after this server changed them, so the
    /// check endpoint sees the change before the change's answer is sent.
    pub async fn refresh_keys(&self, ids: Vec<i64>) -> Result<(), Error> {
        let rows = self.db(move |c| store::gate::load_keys(c, &ids)).await?;
        self.gate.index.apply(&rows);
        Ok(())
    }
}

/// Security headers on every answer (pages carry no inline script).
fn security_headers() -> middleware::DefaultHeaders {
    middleware::DefaultHeaders::new()
        .add((
            "Content-Security-Policy",
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
        ))
        .add(("X-Content-Type-Options", "nosniff"))
        .add(("Referrer-Policy", "strict-origin-when-cross-origin"))
        .add(("X-Frame-Options", "DENY"))
}

/// Registers every route; shared by `serve` and nothing else, so tests exercise the
/// same app through the real binary.
fn routes(cfg: &mut web::ServiceConfig) {
    cfg.configure(api::routes)
        .configure(admin::routes)
        .configure(portal::routes)
        .route("/healthz", web::get().to(healthz))
        .route("/static/app.css", web::get().to(pages::stylesheet))
        .route("/static/app.js", web::get().to(pages::script))
        .route("/", web::get().to(pages::home));
}

/// Loads every key into the gate (at start, and periodically as a safety net).
fn load_gate(store: &Store, gate: &Gate) -> Result<(), Error> {
    let mut conn = store.conn()?;
    gate.index.apply(&store::gate::load_all(&mut conn)?);
    gate.index
        .add_developers(&store::gate::developer_hashes(&mut conn)?);
    Ok(())
}

/// How often each server looks for key changes made by other servers.
const CHANGE_POLL: Duration = Duration::from_millis(200);
/// Changes recorded this recently are read again on every poll: change ids are
/// handed out before commit, so a slow transaction can commit an id below one
/// already seen.
const CHANGE_LOOKBACK: chrono::TimeDelta = chrono::TimeDelta::seconds(10);

/// The server's background work: the change feed, usage flushes, throttle sweeps,
/// a full reload of the key index every minute.
fn spawn_background(state: web::Data<AppState>) {
    let poll = state.clone();
    actix_web::rt::spawn(async move {
        let mut last = poll.db(store::gate::last_change).await.unwrap_or(0);
        let mut ticks: u64 = 0;
        let mut interval = actix_web::rt::time::interval(CHANGE_POLL);
        loop {
            interval.tick().await;
            ticks += 1;
            if ticks % 300 == 0 {
                let (store, gate) = (poll.store.clone(), poll.gate.clone());
                if let Ok(Err(e)) = web::block(move || load_gate(&store, &gate)).await {
                    tracing::warn!(error = %e, "key index reload failed");
                }
            }
            let since = crate::store::to_db(Utc::now() - CHANGE_LOOKBACK);
            let changes = poll
                .db(move |c| store::gate::changes_since(c, last, since))
                .await;
            match changes {
                Ok(changes) if !changes.is_empty() => {
                    last = last.max(changes.iter().map(|(id, _)| *id).max().unwrap_or(last));
                    let mut ids: Vec<i64> = changes.into_iter().map(|(_, key)| key).collect();
                    ids.sort_unstable();
                    ids.dedup();
                    if let Err(e) = poll.refresh_keys(ids).await {
                        tracing::warn!(error = %e, "key refresh failed");
                    }
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "change feed unreachable"),
            }
        }
    });
    let flush = state.clone();
    actix_web::rt::spawn(async move {
        let mut interval = actix_web::rt::time::interval(Duration::from_secs(2));
        loop {
            interval.tick().await;
            flush_usage(&flush).await;
            flush.gate.sweep();
        }
    });
}

/// Delivers the outbox every second (statements are queued by the issuing
/// transaction; see `mail::sender` for why nothing is lost or sent twice).
fn spawn_mail_sender(
    state: web::Data<AppState>,
    delivery: Arc<crate::mail::sender::Delivery>,
    from: lettre::message::Mailbox,
) {
    actix_web::rt::spawn(async move {
        let mut interval = actix_web::rt::time::interval(Duration::from_secs(1));
        let mut ticks: u64 = 0;
        loop {
            interval.tick().await;
            // Once a minute (and at start): reminders for statements past due.
            if ticks % 60 == 0 {
                let settings = crate::store::invoices::StatementSettings {
                    portal_url: state.config.public_url(),
                };
                if let Err(e) = state
                    .db(move |c| crate::store::invoices::queue_reminders(c, &settings, Utc::now()))
                    .await
                {
                    tracing::warn!(error = %e, "reminders not queued");
                }
            }
            ticks += 1;
            let (delivery, from, url) = (delivery.clone(), from.clone(), state.config.public_url());
            let round = state
                .db(move |c| {
                    crate::mail::sender::deliver_due(c, &delivery, &from, &url, Utc::now())
                })
                .await;
            if let Err(e) = round {
                tracing::warn!(error = %e, "mail round failed");
            }
        }
    });
}

/// Writes counted usage; what cannot be written is kept for the next try.
async fn flush_usage(state: &AppState) {
    let batch = state.gate.usage.drain();
    if batch.is_empty() {
        return;
    }
    let kept = batch.clone();
    if let Err(e) = state.db(move |c| store::gate::add_usage(c, &batch)).await {
        tracing::warn!(error = %e, "usage not written yet");
        state.gate.usage.restore(kept);
    }
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain").body("ok")
}

/// Binds, prints `keybill: listening on http://ADDR` on stderr (tests read the port
/// from it when they bind port 0), and serves until SIGINT or SIGTERM.
pub fn serve(config: Config, store: Store) -> std::io::Result<()> {
    // The first start of an empty database creates the first admin and prints its
    // password once, alone on stdout.
    let created = store
        .conn()
        .and_then(|mut c| store::staff::ensure_initial_admin(&mut c, Utc::now()))
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    if let Some(password) = created {
        eprintln!(
            "keybill: created {} (role admin); its password follows, shown once",
            store::staff::INITIAL_ADMIN
        );
        println!("{password}");
    }
    let delivery = Arc::new(
        crate::mail::sender::Delivery::from_config(config.smtp_url.as_deref(), &config.mail_dir)
            .map_err(std::io::Error::other)?,
    );
    let from = crate::mail::sender::sender(&config.mail_from)
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    let shared = config
        .redis_url
        .as_deref()
        .map(SharedThrottle::new)
        .transpose()
        .map_err(std::io::Error::other)?;
    let gate = Arc::new(Gate::new(shared));
    load_gate(&store, &gate).map_err(|e| std::io::Error::other(e.to_string()))?;
    let listener = TcpListener::bind(config.bind)?;
    let addr = listener.local_addr()?;
    let state = web::Data::new(AppState {
        store,
        config,
        gate,
        logins: Default::default(),
        bill_runs: Default::default(),
    });
    let background = state.clone();
    actix_web::rt::System::new().block_on(async move {
        spawn_mail_sender(background.clone(), delivery, from);
        spawn_background(background);
        let app_state = state.clone();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(app_state.clone())
                // The check endpoint answers gateways, not browsers: no page headers.
                .configure(authz::routes)
                .service(web::scope("").wrap(security_headers()).configure(routes))
        })
        .listen(listener)?
        .shutdown_timeout(10)
        .disable_signals()
        .run();
        // Handlers are registered before the address is announced, so a signal sent
        // right after start-up still shuts down gracefully.
        let stop = shutdown_signal()?;
        let handle = server.handle();
        actix_web::rt::spawn(async move {
            stop.await;
            tracing::info!("signal received, finishing in-flight requests");
            handle.stop(true).await;
        });
        eprintln!("keybill: listening on http://{addr}");
        let result = server.await;
        flush_usage(&state).await;
        result
    })?;
    tracing::info!("shut down cleanly");
    Ok(())
}

/// Resolves on the first SIGINT or SIGTERM.
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    use actix_web::rt::signal::unix::{signal, SignalKind};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    Ok(async move {
        let int = std::pin::pin!(interrupt.recv());
        let term = std::pin::pin!(terminate.recv());
        futures_select(int, term).await;
    })
}

/// Waits for whichever of two futures finishes first.
async fn futures_select<A: std::future::Future + Unpin, B: std::future::Future + Unpin>(
    mut a: A,
    mut b: B,
) {
    std::future::poll_fn(|cx| {
        use std::task::Poll;
        if std::pin::Pin::new(&mut a).poll(cx).is_ready()
            || std::pin::Pin::new(&mut b).poll(cx).is_ready()
        {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await
}
