//! The actix-web application: pages, JSON API and the check endpoint.

pub mod api;
mod pages;

use std::net::TcpListener;

use actix_web::{middleware, web, App, HttpResponse, HttpServer};
use chrono::Utc;

use crate::config::Config;
use crate::error::Error;
use crate::store::{self, Db, Store};

/// What every handler can reach.
pub struct AppState {
    pub store: Store,
    pub config: Config,
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
        .route("/healthz", web::get().to(healthz))
        .route("/static/app.css", web::get().to(pages::stylesheet))
        .route("/", web::get().to(pages::home));
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
    let listener = TcpListener::bind(config.bind)?;
    let addr = listener.local_addr()?;
    let state = web::Data::new(AppState { store, config });
    actix_web::rt::System::new().block_on(async move {
        let server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .wrap(security_headers())
                .configure(routes)
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
        server.await
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
