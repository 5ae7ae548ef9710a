//! AI-node mode: the relay's `prompt`, `workflow`, `status` and `restart` commands, and the
//! `heartbeat`, on the same link as the terminal sessions.
//!
//! Capability-scoped: a node runs only what its config file declares (`config.rs`,
//! `node.prompt` and `node.workflows`); a command names nothing else to run. A prompt runs
//! the configured argv with the prompt text on stdin; a workflow runs
//! `<workflows>/<workflow_id>` (checked by `workflow.rs`) with its `params` JSON on stdin.
//! Either way the process's stdout streams back as `token` responses, then `done`, or
//! `error` with its exit status and the last line of its stderr (`task.rs`, `process.rs`).
//! Requests run concurrently, at most `MAX_TASKS` at once, each with its own bounded output
//! buffer in the outbox. When the link drops every running request is stopped (the relay has
//! already failed them; nodes never replay). Prompt text, tokens and params are never logged:
//! request ids and sizes only.

mod process;
mod task;
mod workflow;

use crate::config::NodeConfig;
use crate::frame;
use crate::log::{debug, info};
use crate::notify::{Latch, Notify};
use crate::outbox::{End, Outbox};
use crate::pty;
use privaclaw_proto::{Command, CommandArgs, Heartbeat, Response, encode, kind};
use smol::LocalExecutor;
use smol::future::or;
use std::cell::{Cell, RefCell};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::{Duration, Instant};
use task::Task;

/// Requests running (or still sending their output) at once; more are refused.
pub const MAX_TASKS: usize = 16;
const HEARTBEAT_EVERY: Duration = Duration::from_secs(15);
/// Test knob: the heartbeat interval in milliseconds.
const HEARTBEAT_ENV: &str = "RELAY_CONNECTOR_HEARTBEAT_MS";
pub const NO_PROMPT: &str = "this node does not answer prompts (no node.prompt in its config)";
pub const NO_WORKFLOWS: &str = "this node runs no workflows (no node.workflows in its config)";

pub struct Node {
    ex: Rc<LocalExecutor<'static>>,
    outbox: Rc<Outbox>,
    /// The device id.
    node_id: String,
    prompt: Option<Vec<String>>,
    workflows: Option<PathBuf>,
    started: Instant,
    heartbeat_every: Duration,
    last_error: RefCell<Option<String>>,
    tasks: RefCell<Vec<Rc<Task>>>,
    running: Cell<usize>,
    finished: Notify,
    /// Set by a `restart` command, once its `done` is queued.
    pub restart: Latch,
}

impl Node {
    pub fn new(ex: Rc<LocalExecutor<'static>>, outbox: Rc<Outbox>, node_id: String, config: &NodeConfig) -> Rc<Node> {
        let heartbeat_every = std::env::var(HEARTBEAT_ENV)
            .ok()
            .and_then(|ms| ms.parse().ok())
            .filter(|&ms| ms > 0)
            .map_or(HEARTBEAT_EVERY, Duration::from_millis);
        Rc::new(Node {
            ex,
            outbox,
            node_id,
            prompt: config.prompt.clone().filter(|argv| !argv.is_empty()),
            workflows: config.workflows.as_ref().map(PathBuf::from),
            started: Instant::now(),
            heartbeat_every,
            last_error: RefCell::default(),
            tasks: RefCell::default(),
            running: Cell::new(0),
            finished: Notify::new(),
            restart: Latch::new(),
        })
    }

    /// What the node can do, for the log.
    pub fn describe(&self) -> String {
        let prompt = self.prompt.as_ref().map_or("none".into(), |argv| argv[0].clone());
        let workflows = self.workflows.as_ref().map_or("none".into(), |dir| dir.display().to_string());
        format!("AI node: prompts run {prompt}, workflows from {workflows}")
    }

    pub fn heartbeat_every(&self) -> Duration {
        self.heartbeat_every
    }

    pub fn heartbeat(&self) -> String {
        encode(kind::HEARTBEAT, Some(&self.health()))
    }

    fn health(&self) -> Heartbeat {
        Heartbeat {
            node_id: Some(self.node_id.clone()),
            uptime: Some(self.started.elapsed().as_secs()),
            active_tasks: Some(self.tasks.borrow().len() as u64),
            last_error: self.last_error.borrow().clone(),
            connection_state: Some("online".to_owned()),
        }
    }

    /// Handles a `prompt`, `workflow`, `status` or `restart` frame.
    pub fn dispatch(self: &Rc<Self>, kind: &str, text: &str) {
        let Command { request_id, data: args } = frame::data(text).unwrap_or_default();
        // The OpenClaw skill's default, so that the answer still reaches somebody.
        let id = request_id.unwrap_or_else(|| "unknown".to_owned());
        match kind {
            kind::STATUS => {
                debug!("status request {id}");
                let h = self.health();
                let status = Response {
                    node_id: h.node_id,
                    uptime: h.uptime,
                    active_tasks: h.active_tasks,
                    last_error: h.last_error,
                    connection_state: h.connection_state,
                    ..response("status", id)
                };
                self.outbox.send(encode(kind::RESPONSE, Some(&status)));
            }
            kind::RESTART => {
                info!("restart requested (request {id})");
                self.outbox.send(encode(kind::RESPONSE, Some(&response("done", id))));
                self.restart.set();
            }
            kind::PROMPT => self.prompt(id, args),
            _ => self.workflow(id, args, text),
        }
    }

    fn prompt(self: &Rc<Self>, id: String, args: Option<CommandArgs>) {
        let Some(argv) = &self.prompt else {
            return self.fail(id, NO_PROMPT.to_owned());
        };
        let Some(args) = args else {
            return self.fail(id, "the prompt command has no data".to_owned());
        };
        let prompt = args.prompt.unwrap_or_default();
        info!("prompt request {id} ({} bytes)", prompt.len());
        self.start(id, Path::new(&argv[0]), &argv[1..], prompt.into_bytes());
    }

    fn workflow(self: &Rc<Self>, id: String, args: Option<CommandArgs>, text: &str) {
        let Some(dir) = &self.workflows else {
            return self.fail(id, NO_WORKFLOWS.to_owned());
        };
        let Some(args) = args else {
            return self.fail(id, "the workflow command has no data".to_owned());
        };
        let workflow_id = args.workflow_id.unwrap_or_default();
        let path = match workflow::resolve(dir, &workflow_id) {
            Ok(path) => path,
            Err(why) => return self.fail(id, why),
        };
        // Free-form JSON, passed on as the relay wrote it, then a newline.
        let params = frame::raw(text, &["data", "data", "params"]).filter(|p| *p != "null").unwrap_or("{}");
        let mut input = Vec::with_capacity(params.len() + 1);
        input.extend_from_slice(params.as_bytes());
        input.push(b'\n');
        info!("workflow request {id}: {workflow_id} ({} bytes of params)", params.len());
        self.start(id, &path, &[], input);
    }

    fn start(self: &Rc<Self>, id: String, program: &Path, args: &[String], input: Vec<u8>) {
        if self.tasks.borrow().len() >= MAX_TASKS {
            return self.fail(id, format!("this node is busy: {MAX_TASKS} requests are running"));
        }
        let (process, pipes) = match process::Process::spawn(program, args, &pty::home_dir()) {
            Ok(started) => started,
            Err(e) => return self.fail(id, format!("cannot start {}: {e}", program.display())),
        };
        let task = Task::new(id);
        self.tasks.borrow_mut().push(task.clone());
        self.running.set(self.running.get() + 1);
        let node = self.clone();
        let run = async move {
            if let Some(result) = task.run(process, pipes, input, &node.outbox).await {
                let end = match result {
                    Ok(()) => {
                        info!("request {} done", task.id());
                        End::Done
                    }
                    Err((why, stderr)) => {
                        // Its stderr is the program's output: not for the log.
                        info!("request {} failed: {why}", task.id());
                        let mut message = why;
                        if !stderr.is_empty() {
                            message.push_str(": ");
                            message.push_str(&stderr);
                        }
                        *node.last_error.borrow_mut() = Some(message.clone());
                        End::Failed(message)
                    }
                };
                node.outbox.finish(&task.out, end);
                or(task.out.delivered.wait(), task.ended()).await;
            } else {
                info!("request {} stopped", task.id());
            }
            node.tasks.borrow_mut().retain(|t| !Rc::ptr_eq(t, &task));
            node.running.set(node.running.get() - 1);
            node.finished.notify();
        };
        self.ex.spawn(run).detach();
    }

    /// Answers `error` at once (nothing was started, or nothing streamed yet).
    fn fail(&self, id: String, message: String) {
        info!("request {id} failed: {message}");
        *self.last_error.borrow_mut() = Some(message.clone());
        let error = Response { message: Some(message), ..response("error", id) };
        self.outbox.send(encode(kind::RESPONSE, Some(&error)));
    }

    /// Stops every running request, dropping what it has not sent (the link is gone).
    pub fn end_all(&self) {
        for task in self.tasks.borrow_mut().drain(..) {
            task.end();
        }
    }

    /// Returns once every request's process is gone and reaped.
    pub async fn all_finished(&self) {
        while self.running.get() > 0 {
            self.finished.wait().await;
        }
    }
}

fn response(kind: &str, request_id: String) -> Response {
    Response { kind: kind.to_owned(), request_id: Some(request_id), ..Response::default() }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use privaclaw_proto::Frame;
    use rustix::process::{Pid, test_kill_process, test_kill_process_group};
    use smol::Timer;
    use std::collections::HashMap;
    use std::future::Future;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};

    /// `sh -s`: every prompt is a shell script, so each test says what the "model" does.
    const SCRIPTED: &[&str] = &["/bin/sh", "-s"];

    fn golden(name: &str) -> String {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../proto/golden").join(format!("{name}.json"));
        std::fs::read_to_string(path).unwrap()
    }

    /// Runs `test` with a node on its own executor; a hang fails after 60 s.
    fn with_node<F: Future<Output = ()>>(
        prompt: Option<&[&str]>,
        workflows: Option<&Path>,
        test: impl FnOnce(Rc<Node>, Rc<Outbox>) -> F,
    ) {
        let ex = Rc::new(LocalExecutor::new());
        let outbox = Rc::new(Outbox::default());
        outbox.set_online(true);
        let config = NodeConfig {
            prompt: prompt.map(|argv| argv.iter().map(|a| a.to_string()).collect()),
            workflows: workflows.map(|dir| dir.to_str().unwrap().to_owned()),
        };
        let node = Node::new(ex.clone(), outbox.clone(), "dev-1".into(), &config);
        let deadline = async {
            Timer::after(Duration::from_secs(60)).await;
            panic!("test timed out");
        };
        smol::block_on(ex.run(or(test(node, outbox), deadline)));
    }

    fn prompt(id: &str, script: &str) -> String {
        let args = CommandArgs { prompt: Some(script.to_owned()), workflow_id: None };
        encode(kind::PROMPT, Some(&Command { request_id: Some(id.to_owned()), data: Some(args) }))
    }

    async fn next(outbox: &Outbox) -> Response {
        let text = outbox.next().await.into_text().unwrap().as_str().to_owned();
        let frame: Frame<Response> = miniserde::json::from_str(&text).unwrap();
        assert_eq!(frame.kind, kind::RESPONSE, "{text}");
        frame.data.unwrap()
    }

    /// Reads responses until `n` requests have ended: each one's tokens, and its last response.
    async fn answers(outbox: &Outbox, n: usize) -> HashMap<String, (Vec<String>, Response)> {
        let mut seen: HashMap<String, (Vec<String>, Option<Response>)> = HashMap::new();
        while seen.values().filter(|(_, end)| end.is_some()).count() < n {
            let r = next(outbox).await;
            let entry = seen.entry(r.request_id.clone().unwrap()).or_default();
            assert!(entry.1.is_none(), "a response after the end of {:?}", r.request_id);
            match r.kind.as_str() {
                "token" => entry.0.push(r.content.unwrap()),
                _ => entry.1 = Some(r),
            }
        }
        seen.into_iter().map(|(id, (tokens, end))| (id, (tokens, end.unwrap()))).collect()
    }

    async fn answer(outbox: &Outbox) -> (String, Response) {
        let (_, (tokens, end)) = answers(outbox, 1).await.into_iter().next().unwrap();
        (tokens.concat(), end)
    }

    #[test]
    fn a_prompt_streams_stdout_as_tokens_then_done() {
        with_node(Some(&["/bin/sh", "-c", "printf 'you said: '; cat; printf '!'"]), None, |node, outbox| async move {
            node.dispatch(kind::PROMPT, &golden("relay-prompt"));
            let (text, end) = answer(&outbox).await;
            assert_eq!(text, "you said: Hi!");
            assert_eq!((end.kind.as_str(), end.request_id.as_deref()), ("done", Some("r1")));
            node.all_finished().await;
            assert!(node.tasks.borrow().is_empty());
        });
    }

    #[test]
    fn concurrent_prompts_keep_their_output_in_order_in_bounded_utf8_tokens() {
        with_node(Some(SCRIPTED), None, |node, outbox| async move {
            // Both print far more than a request may buffer: the readers wait for the writer.
            node.dispatch(kind::PROMPT, &prompt("numbers", "seq 1 30000"));
            node.dispatch(kind::PROMPT, &prompt("accents", "yes é | head -n 40000 | tr -d '\\n'"));
            let all = answers(&outbox, 2).await;
            let expected: String = (1..=30000).map(|i| format!("{i}\n")).collect();
            let (numbers, end) = &all["numbers"];
            assert_eq!(end.kind, "done");
            assert_eq!(numbers.concat(), expected);
            assert!(numbers.len() >= expected.len() / crate::outbox::TOKEN);
            let (accents, end) = &all["accents"];
            assert_eq!(end.kind, "done");
            assert_eq!(accents.concat(), "é".repeat(40000), "no character may be cut in two");
            for token in numbers.iter().chain(accents) {
                assert!(!token.is_empty() && token.len() <= crate::outbox::TOKEN, "{}", token.len());
            }
            node.all_finished().await;
        });
    }

    #[test]
    fn a_failing_prompt_ends_with_its_exit_status_and_last_stderr_line() {
        with_node(Some(SCRIPTED), None, |node, outbox| async move {
            let script = "echo partial; echo 'loading' >&2; echo 'model crashed' >&2; echo >&2; exit 3";
            node.dispatch(kind::PROMPT, &prompt("r1", script));
            let (text, end) = answer(&outbox).await;
            assert_eq!(text, "partial\n", "what was printed before the failure stays sent");
            assert_eq!((end.kind.as_str(), end.request_id.as_deref()), ("error", Some("r1")));
            assert_eq!(end.message.as_deref(), Some("exit status 3: model crashed"));
            node.dispatch(kind::PROMPT, &prompt("r2", "kill -9 $$"));
            assert_eq!(answer(&outbox).await.1.message.as_deref(), Some("killed by signal 9"));
            node.all_finished().await;

            node.dispatch(kind::STATUS, &golden("relay-status"));
            let status = next(&outbox).await;
            assert_eq!((status.kind.as_str(), status.request_id.as_deref()), ("status", Some("r2")));
            assert_eq!(status.node_id.as_deref(), Some("dev-1"));
            assert_eq!(status.active_tasks, Some(0));
            assert_eq!(status.last_error.as_deref(), Some("killed by signal 9"));
            assert_eq!(status.connection_state.as_deref(), Some("online"));
            assert!(status.uptime.is_some());
        });
    }

    #[test]
    fn a_program_that_cannot_start_is_an_error() {
        with_node(Some(&["/nonexistent/llm"]), None, |node, outbox| async move {
            node.dispatch(kind::PROMPT, &golden("relay-prompt"));
            let end = next(&outbox).await;
            assert_eq!((end.kind.as_str(), end.request_id.as_deref()), ("error", Some("r1")));
            assert!(end.message.unwrap().starts_with("cannot start /nonexistent/llm: "));
        });
    }

    #[test]
    fn without_config_prompts_and_workflows_are_refused() {
        with_node(None, None, |node, outbox| async move {
            node.dispatch(kind::PROMPT, &golden("relay-prompt"));
            assert_eq!(next(&outbox).await.message.as_deref(), Some(NO_PROMPT));
            node.dispatch(kind::WORKFLOW, &golden("relay-workflow"));
            let end = next(&outbox).await;
            assert_eq!((end.message.as_deref(), end.request_id.as_deref()), (Some(NO_WORKFLOWS), Some("r4")));
            // No request id: the skill's "unknown"; restart is acknowledged, then done.
            node.dispatch(kind::PROMPT, r#"{"type":"prompt"}"#);
            assert_eq!(next(&outbox).await.request_id.as_deref(), Some("unknown"));
            assert!(!node.restart.is_set());
            node.dispatch(kind::RESTART, &golden("relay-restart"));
            let done = next(&outbox).await;
            assert_eq!((done.kind.as_str(), done.request_id.as_deref()), ("done", Some("r3")));
            assert!(node.restart.is_set());
        });
    }

    #[test]
    fn workflows_get_their_params_on_stdin() {
        let dir = std::env::temp_dir().join(format!("privaclaw-node-wf-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let wf = dir.join("wf-1");
        std::fs::write(&wf, "#!/bin/sh\nprintf 'params: '; cat\n").unwrap();
        std::fs::set_permissions(&wf, std::fs::Permissions::from_mode(0o755)).unwrap();
        with_node(None, Some(&dir), |node, outbox| async move {
            node.dispatch(kind::WORKFLOW, &golden("relay-workflow"));
            let (text, end) = answer(&outbox).await;
            assert_eq!(text, "params: {\"x\":1}\n");
            assert_eq!((end.kind.as_str(), end.request_id.as_deref()), ("done", Some("r4")));
            let without = r#"{"type":"workflow","data":{"request_id":"r5","data":{"workflow_id":"wf-1"}}}"#;
            node.dispatch(kind::WORKFLOW, without);
            assert_eq!(answer(&outbox).await.0, "params: {}\n");
            let sneaky = r#"{"type":"workflow","data":{"request_id":"r6","data":{"workflow_id":"../wf-1"}}}"#;
            node.dispatch(kind::WORKFLOW, sneaky);
            let end = next(&outbox).await;
            assert_eq!(end.request_id.as_deref(), Some("r6"));
            assert!(end.message.unwrap().starts_with("invalid workflow id \"../wf-1\""));
            node.all_finished().await;
        });
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn ending_the_node_stops_the_process_group_and_sends_nothing_more() {
        // The shell and its background `sleep` share the process group the shell leads, and
        // both hold the write end of a FIFO: its reader sees EOF once both are gone.
        let dir = std::env::temp_dir().join(format!("privaclaw-node-stop-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let fifo = dir.join("fifo");
        assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
        let reader = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
            .open(&fifo)
            .unwrap();
        let mut reader = smol::Async::new(reader).unwrap();
        let script = format!("exec 3>'{}'; sleep 1000 & echo $$; wait; echo never", fifo.display());
        with_node(Some(SCRIPTED), None, |node, outbox| async move {
            node.dispatch(kind::PROMPT, &prompt("r1", &script));
            let token = next(&outbox).await;
            let pid: i32 = token.content.unwrap().trim().parse().unwrap();
            let leader = Pid::from_raw(pid).unwrap();
            assert!(test_kill_process_group(leader).is_ok());
            assert_eq!(node.health().active_tasks, Some(1));
            node.end_all();
            assert_eq!(node.health().active_tasks, Some(0));
            node.all_finished().await;
            assert_eq!(test_kill_process(leader), Err(rustix::io::Errno::SRCH), "the shell is gone and reaped");
            let mut rest = Vec::new();
            smol::io::AsyncReadExt::read_to_end(&mut reader, &mut rest).await.unwrap();
            assert!(rest.is_empty(), "EOF: every process of the group is gone");
            let more = or(async { Some(outbox.next().await) }, async { None }).await;
            assert!(more.is_none(), "nothing is sent for a stopped request");
        });
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn at_most_max_tasks_run_at_once() {
        with_node(Some(SCRIPTED), None, |node, outbox| async move {
            for i in 0..MAX_TASKS {
                node.dispatch(kind::PROMPT, &prompt(&format!("r{i}"), "echo up; exec sleep 1000"));
            }
            for _ in 0..MAX_TASKS {
                assert_eq!(next(&outbox).await.content.as_deref(), Some("up\n"));
            }
            node.dispatch(kind::PROMPT, &prompt("one-too-many", "echo no"));
            let busy = next(&outbox).await;
            assert_eq!((busy.kind.as_str(), busy.request_id.as_deref()), ("error", Some("one-too-many")));
            assert_eq!(busy.message.as_deref(), Some("this node is busy: 16 requests are running"));
            node.end_all();
            node.all_finished().await;
        });
    }

    #[test]
    fn heartbeats_carry_the_health() {
        with_node(None, None, |node, _| async move {
            let text = node.heartbeat();
            let frame: Frame<Heartbeat> = miniserde::json::from_str(&text).unwrap();
            assert_eq!(frame.kind, kind::HEARTBEAT);
            let beat = frame.data.unwrap();
            assert_eq!(beat.node_id.as_deref(), Some("dev-1"));
            assert_eq!((beat.active_tasks, beat.last_error), (Some(0), None));
            assert_eq!(beat.connection_state.as_deref(), Some("online"));
        });
    }
}
