package check

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"voicetoken/internal/token"
)

// LiveKitReachable checks that the LiveKit server at httpURL (see
// HTTPURL) answers HTTP: GET / must get a response. LiveKit answers 200
// "OK"; any other status is a warning, no answer a failure.
func LiveKitReachable(name, httpURL string, client *http.Client) Check {
	return Check{Name: name, Run: func(ctx context.Context) Result {
		resp, _, err := fetch(ctx, client, http.MethodGet, httpURL+"/", "", nil)
		if err != nil {
			return Failf("LiveKit at %s is not reachable: %v", httpURL, err)
		}
		if resp.StatusCode/100 != 2 {
			return Warnf("LiveKit at %s answered GET / with %s", httpURL, resp.Status)
		}
		return Okf("LiveKit at %s answered GET / with %s", httpURL, resp.Status)
	}}
}

// listRoomsPath is LiveKit's RoomService.ListRooms over Twirp, which
// accepts JSON as well as protobuf.
const listRoomsPath = "/twirp/livekit.RoomService/ListRooms"

// LiveKitAPI checks that the LiveKit server accepts our API key: it
// mints a short roomList token with key and calls RoomService/ListRooms.
// 200 is ok; 401 fails with the server's own reason (any token it echoes
// is shown as a fingerprint).
func LiveKitAPI(name, httpURL string, client *http.Client, key *token.Key, now func() time.Time) Check {
	if now == nil {
		now = time.Now
	}
	return Check{Name: name, Run: func(ctx context.Context) Result {
		if key == nil {
			return Skipf("no API key to call LiveKit with")
		}
		raw, err := key.Mint(token.Claims{Identity: "voicetoken-check", Video: &token.VideoGrant{RoomList: true}}, now(), 5*time.Minute)
		if err != nil {
			return Failf("cannot mint a roomList token: %v", err)
		}
		resp, body, err := fetch(ctx, client, http.MethodPost, httpURL+listRoomsPath, raw, strings.NewReader("{}"))
		if err != nil {
			return Failf("ListRooms at %s: %v", httpURL, err)
		}
		switch resp.StatusCode {
		case http.StatusOK:
			var out struct {
				Rooms []json.RawMessage `json:"rooms"`
			}
			if err := json.Unmarshal(body, &out); err != nil {
				return Failf("ListRooms answered 200 but not LiveKit's JSON: is %s a LiveKit server?", httpURL)
			}
			return Okf("API key %s accepted: ListRooms lists %d room(s)", key.ID, len(out.Rooms))
		case http.StatusUnauthorized, http.StatusForbidden:
			return Failf("LiveKit refused API key %s (%d): %s", key.ID, resp.StatusCode, orStatus(bodyMessage(body), resp))
		case http.StatusNotFound:
			return Failf("ListRooms answered 404: is %s a LiveKit server?", httpURL)
		}
		return Failf("ListRooms answered %s: %s", resp.Status, orStatus(bodyMessage(body), resp))
	}}
}

func orStatus(msg string, resp *http.Response) string {
	if msg == "" {
		return resp.Status
	}
	return msg
}
