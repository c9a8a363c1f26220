//! A route's target tree written as JSON by hand ([`Node::to_json`]): the
//! text the response cache hashes into its keys (`src/cache/key.rs`), equal
//! to what the derived `Serialize` writes. By hand because the derived
//! impls of the tree's types (and their serde_json writer copies) were
//! the only reason the Worker linked them.

use super::{BalanceMode, ModelRef, Node};

impl Node {
    /// The tree as serde's derive writes it (externally tagged,
    /// `snake_case` variants, fields in declaration order).
    pub fn to_json(&self) -> String {
        let mut out = String::new();
        node(&mut out, self);
        out
    }
}

fn node(out: &mut String, n: &Node) {
    match n {
        Node::Step(step) => {
            out.push_str("{\"step\":{\"provider\":");
            out.push_str(&step.provider.to_string());
            out.push_str(",\"model\":");
            match &step.model {
                ModelRef::Fixed(id) => {
                    out.push_str("{\"fixed\":");
                    out.push_str(&serde_json::to_string(id.as_str()).unwrap_or_default());
                    out.push('}');
                }
                ModelRef::Request => out.push_str("\"request\""),
            }
            out.push_str(",\"policy\":");
            out.push_str(&step.policy.to_string());
            out.push_str("}}");
        }
        Node::Chain(nodes) => {
            out.push_str("{\"chain\":");
            list(out, nodes);
            out.push('}');
        }
        Node::Split(branches) => {
            out.push_str("{\"split\":[");
            for (i, b) in branches.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str("{\"weight\":");
                // serde_json's own float text (`50.0`), `null` if not finite.
                out.push_str(&serde_json::to_string(&b.weight).unwrap_or_default());
                out.push_str(",\"node\":");
                node(out, &b.node);
                out.push('}');
            }
            out.push_str("]}");
        }
        Node::Balanced(balanced) => {
            out.push_str("{\"balanced\":{\"mode\":");
            out.push_str(match balanced.mode {
                BalanceMode::LeastBusy => "\"least_busy\"",
                BalanceMode::LowestLatency => "\"lowest_latency\"",
            });
            out.push_str(",\"branches\":");
            list(out, &balanced.branches);
            out.push_str("}}");
        }
    }
}

fn list(out: &mut String, nodes: &[Node]) {
    out.push('[');
    for (i, n) in nodes.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        node(out, n);
    }
    out.push(']');
}

#[cfg(test)]
mod tests {
    use super::super::{Balanced, Branch, RoutingPlan, Step};
    use super::*;

    fn same(n: &Node) {
        assert_eq!(n.to_json(), serde_json::to_string(n).unwrap());
    }

    #[test]
    fn writes_every_fixture_route_as_the_derive_does() {
        let mut routes = 0;
        for (name, text) in super::super::read::tests::fixtures() {
            let plan = RoutingPlan::from_json(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
            for route in &plan.routes {
                same(&route.targets);
                routes += 1;
            }
        }
        assert!(routes >= 10, "routes: {routes}");
    }

    #[test]
    fn writes_every_shape_as_the_derive_does() {
        let step = |provider, model: ModelRef, policy| Node::Step(Step { provider, model, policy });
        let fixed = |s: &str| ModelRef::Fixed(s.to_string());
        let tree = Node::Chain(vec![
            step(0, fixed("gpt-4o"), 1),
            step(12, ModelRef::Request, 0),
            step(3, fixed("we\"ird\\ \u{1}name é 🚀"), 2),
            Node::Split(vec![
                Branch { weight: 33.3, node: step(1, fixed("a"), 0) },
                Branch { weight: 66.7, node: Node::Chain(vec![]) },
                Branch { weight: 100.0, node: step(2, ModelRef::Request, 1) },
                Branch { weight: 1e-7, node: step(2, fixed(""), 1) },
                Branch { weight: f64::NAN, node: step(2, fixed("n"), 1) },
            ]),
            Node::Balanced(Balanced { mode: BalanceMode::LeastBusy, branches: vec![step(4, fixed("x"), 0)] }),
            Node::Balanced(Balanced { mode: BalanceMode::LowestLatency, branches: vec![] }),
        ]);
        same(&tree);
        same(&Node::Split(vec![]));
        same(&step(0, fixed("m"), 0));
    }
}
