package cli

import (
	"encoding/json"
	"io"
	"net/url"
	"time"

	"github.com/spf13/cobra"

	"github.com/fedgate/fedgate/shared/agents"
	"github.com/fedgate/fedgate/shared/federation"
	"github.com/fedgate/fedgate/shared/openapi"
)

func (a *app) agentsCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "agents", Aliases: []string{"agent"}, Short: "Agents on peers (agent.spawn, agent.status, agent.kill)"}
	var task, agentType, repo, branch string
	var items, skills []string
	var priority int
	var wait time.Duration
	spawn := &cobra.Command{Use: "spawn CONNECTION", Short: "Spawn an agent on the connection's peer", Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			ctx, _ := json.Marshal(map[string]any{"repository": repo, "branch": branch, "workItems": nonNil(items), "skills": nonNil(skills)})
			in := agents.SpawnInput{ConnectionID: args[0], TaskID: task, AgentType: agentType, Context: ctx}
			if priority > 0 {
				in.Options, _ = json.Marshal(map[string]int{"priority": priority})
			}
			ans, err := a.call(c, "POST", "/agents/spawn", nil, in)
			if err != nil {
				return err
			}
			return a.sentMessage(c, ans, "/commands/", wait, true)
		}}
	f := spawn.Flags()
	f.StringVar(&task, "task", "", "task id")
	f.StringVar(&agentType, "type", "worker", "worker, reviewer or tester")
	f.StringVar(&repo, "repository", "", "repository the agent works on")
	f.StringVar(&branch, "branch", "main", "branch")
	f.StringArrayVar(&items, "item", nil, "work item (repeat for more)")
	f.StringArrayVar(&skills, "skill", nil, "skill (repeat for more)")
	f.IntVar(&priority, "priority", 0, "priority 1..10")
	f.DurationVar(&wait, "wait", 0, "wait up to this long for the peer's answer")
	_ = spawn.MarkFlagRequired("task")
	_ = spawn.MarkFlagRequired("repository")

	var lf listFlags
	var conn string
	list := &cobra.Command{Use: "list", Short: "Agents known from the peers' answers", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			page, raw, err := pages[federation.Agent](a, c, "/agents", lf.query("connectionId", conn), lf.all)
			if err != nil {
				return err
			}
			return a.show(c, Result{Body: raw}, func(w io.Writer) error {
				t := newTable(w, "AGENT", "CONNECTION", "TASK", "TYPE", "STATUS", "SPAWNED", "UPDATED", "ERROR")
				for _, g := range page.Items {
					t.row(g.AgentID, g.ConnectionID, g.TaskID, g.AgentType, g.Status, g.SpawnedAt, g.UpdatedAt, g.Error)
				}
				if err := t.flush(); err != nil {
					return err
				}
				return nextPage(w, page.NextCursor)
			})
		}}
	lf.add(list)
	list.Flags().StringVar(&conn, "connection", "", "only agents on this connection")

	var getConn string
	var getWait time.Duration
	get := &cobra.Command{Use: "get AGENT_ID --connection ID", Short: "Ask the peer about an agent (agent.status)", Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			ans, err := a.call(c, "GET", "/agents/"+url.PathEscape(args[0]), listQuery("connectionId", getConn), nil)
			if err != nil {
				return err
			}
			return a.sentMessage(c, ans, "/commands/", getWait, true)
		}}
	get.Flags().StringVar(&getConn, "connection", "", "the connection the agent runs on")
	get.Flags().DurationVar(&getWait, "wait", 10*time.Second, "wait up to this long for the peer's answer")
	_ = get.MarkFlagRequired("connection")

	var killConn string
	var killWait time.Duration
	kill := &cobra.Command{Use: "kill AGENT_ID --connection ID", Short: "Kill an agent on a peer (agent.kill)", Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			ans, err := a.call(c, "POST", "/agents/"+url.PathEscape(args[0])+"/kill", nil, openapi.AgentKillInput{ConnectionID: killConn})
			if err != nil {
				return err
			}
			return a.sentMessage(c, ans, "/commands/", killWait, true)
		}}
	kill.Flags().StringVar(&killConn, "connection", "", "the connection the agent runs on")
	kill.Flags().DurationVar(&killWait, "wait", 0, "wait up to this long for the peer's answer")
	_ = kill.MarkFlagRequired("connection")

	cmd.AddCommand(spawn, list, get, kill)
	return cmd
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
