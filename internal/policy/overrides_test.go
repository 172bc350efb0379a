package policy_test

import (
	"reflect"
	"testing"
	"time"

	"voicetoken/internal/policy"
)

func ptr[T any](v T) *T { return &v }

func TestOverridesApply(t *testing.T) {
	file := func() *policy.File {
		return &policy.File{
			DefaultRoom: "lobby",
			AllowRooms:  []string{"demo-*"},
			MaxTTL:      policy.Duration(24 * time.Hour),
			DefaultTTL:  policy.Duration(6 * time.Hour),
			Hosts:       []string{"voice.example.com"},
			Origins:     []string{"https://app.example.com"},
		}
	}
	tests := []struct {
		name string
		o    policy.Overrides
		file func() *policy.File
		want func(f *policy.File)
	}{
		{name: "zero value changes nothing", file: file, want: func(*policy.File) {}},
		{name: "default room and allow rooms replace", file: file,
			o: policy.Overrides{DefaultRoom: "hall", AllowRooms: []string{"a", "b-*"}},
			want: func(f *policy.File) {
				f.DefaultRoom = "hall"
				f.AllowRooms = []string{"a", "b-*"}
			}},
		{name: "hosts and origins add", file: file,
			o: policy.Overrides{Hosts: []string{"lb.example.com"}, Origins: []string{"https://b.example.com"}},
			want: func(f *policy.File) {
				f.Hosts = []string{"voice.example.com", "lb.example.com"}
				f.Origins = []string{"https://app.example.com", "https://b.example.com"}
			}},
		{name: "shorter max ttl cuts the default ttl", file: file,
			o: policy.Overrides{MaxTTL: time.Hour},
			want: func(f *policy.File) {
				f.MaxTTL = policy.Duration(time.Hour)
				f.DefaultTTL = policy.Duration(time.Hour)
			}},
		{name: "longer max ttl keeps the default ttl", file: file,
			o:    policy.Overrides{MaxTTL: 48 * time.Hour},
			want: func(f *policy.File) { f.MaxTTL = policy.Duration(48 * time.Hour) }},
		{name: "rate alone keeps the default burst", file: file,
			o: policy.Overrides{AddressRate: ptr(0.5)},
			want: func(f *policy.File) {
				f.RateLimit.PerAddress = &policy.Rate{Rate: 0.5, Burst: policy.DefaultAddressBurst}
			}},
		{name: "burst alone keeps the file's rate",
			file: func() *policy.File {
				f := file()
				f.RateLimit.PerAddress = &policy.Rate{Rate: 2, Burst: 7}
				return f
			},
			o:    policy.Overrides{AddressBurst: ptr(3)},
			want: func(f *policy.File) { f.RateLimit.PerAddress = &policy.Rate{Rate: 2, Burst: 3} }},
		{name: "rate 0 (no limit) is a setting, not an absence", file: file,
			o:    policy.Overrides{AddressRate: ptr(0.0), AddressBurst: ptr(1)},
			want: func(f *policy.File) { f.RateLimit.PerAddress = &policy.Rate{Rate: 0, Burst: 1} }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, want := tc.file(), tc.file()
			tc.o.Apply(got)
			tc.want(want)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("Apply:\n got %+v\nwant %+v", got, want)
			}
			if _, err := policy.Compile(got); err != nil {
				t.Errorf("the result does not compile: %v", err)
			}
		})
	}
}
