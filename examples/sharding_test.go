package examples

import (
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

	"github.com/selfevals/selfevals/repo"
)

const kubeDir = "sharding/kubernetes/"

// decodeKube reads a manifest into the Kubernetes API type of its kind
// with the API server's decoder (sigs.k8s.io/json), strictly: a field
// unknown or in the wrong case, a duplicate key or a value of the wrong
// type fails, as kubectl apply --validate=strict would.
func decodeKube(t *testing.T, name string, kind string, into any) {
	t.Helper()
	raw, err := os.ReadFile(kubeDir + name)
	if err != nil {
		t.Fatal(err)
	}
	js, err := yaml.YAMLToJSONStrict(raw)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	strict, err := kjson.UnmarshalStrict(js, into, kjson.DisallowDuplicateFields, kjson.DisallowUnknownFields)
	if err != nil || len(strict) > 0 {
		t.Fatalf("%s: %v %v", name, err, strict)
	}
	var meta struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
	}
	kjson.UnmarshalCaseSensitivePreserveInts(js, &meta)
	want := map[string]string{"Job": "batch/v1", "PersistentVolumeClaim": "v1"}[kind]
	if meta.Kind != kind || meta.APIVersion != want {
		t.Fatalf("%s: %s %s, want %s %s", name, meta.APIVersion, meta.Kind, want, kind)
	}
}

// The Kubernetes example: an Indexed Job whose n completions each run
// `selfevals run SPEC --shard auto/n` into a shared volume mounted where
// run directories go, and a merge Job that reads that same folder. Both
// pods run the agent without a cluster token.
func TestKubernetesExample(t *testing.T) {
	var pvc corev1.PersistentVolumeClaim
	var shards, merge batchv1.Job
	decodeKube(t, "volume.yaml", "PersistentVolumeClaim", &pvc)
	decodeKube(t, "shards.yaml", "Job", &shards)
	decodeKube(t, "merge.yaml", "Job", &merge)

	if len(pvc.Spec.AccessModes) != 1 || pvc.Spec.AccessModes[0] != corev1.ReadWriteMany {
		t.Errorf("the volume's access modes are %v: shards on several nodes need ReadWriteMany", pvc.Spec.AccessModes)
	}

	s := shards.Spec
	if s.CompletionMode == nil || *s.CompletionMode != batchv1.IndexedCompletion || s.Completions == nil || s.Parallelism == nil {
		t.Fatalf("shards.yaml is not an Indexed Job with completions and parallelism: %+v", s)
	}
	shard := onlyContainer(t, "shards.yaml", s.Template.Spec)
	shardScript := strings.Join(shard.Args, "\n")
	run := regexp.MustCompile(`(?m)^selfevals run evals/experiments/\S+\.yaml --shard (\S+)$`).FindStringSubmatch(shardScript)
	if run == nil {
		t.Fatalf("the shard does not run selfevals run SPEC --shard auto/n:\n%s", shardScript)
	}
	for index := range int(*s.Completions) {
		got, err := repo.ParseShard(run[1], strconv.Itoa(index))
		if err != nil || got.Index != index+1 || got.Count != int(*s.Completions) {
			t.Errorf("completion %d of %d runs --shard %s: %+v, %v", index, *s.Completions, run[1], got, err)
		}
	}
	if _, err := repo.ParseShard(run[1], strconv.Itoa(int(*s.Completions))); err == nil {
		t.Errorf("--shard %s takes a completion index past the %d completions", run[1], *s.Completions)
	}
	if *s.Parallelism < 1 || *s.Parallelism > *s.Completions {
		t.Errorf("parallelism %d of %d completions", *s.Parallelism, *s.Completions)
	}
	shellcheck(t, shardScript)

	// The shards move their run directories into runs/ of their folder
	// of the volume, the folder merge reads.
	vol := mountOf(t, "shards.yaml", shard, "runs")
	if !strings.Contains(shardScript, `mv "`+vol.MountPath+`/tmp/$shard" "`+vol.MountPath+`/runs/$shard"`) {
		t.Errorf("the shards do not move their runs into %s/runs:\n%s", vol.MountPath, shardScript)
	}

	m := onlyContainer(t, "merge.yaml", merge.Spec.Template.Spec)
	if merge.Spec.CompletionMode != nil && *merge.Spec.CompletionMode == batchv1.IndexedCompletion {
		t.Error("the merge is one pod, not an Indexed Job")
	}
	in := mountOf(t, "merge.yaml", m, "runs")
	if in.SubPath != vol.SubPath+"/runs" || !in.ReadOnly {
		t.Errorf("merge reads %q (read-only %v); the shards write %q", in.SubPath, in.ReadOnly, vol.SubPath+"/runs")
	}
	script := strings.Join(m.Args, "\n")
	if !strings.Contains(script, "selfevals merge "+in.MountPath+" ") || m.WorkingDir != shard.WorkingDir {
		t.Errorf("the merge does not merge %s from %s:\n%s", in.MountPath, shard.WorkingDir, script)
	}
	shellcheck(t, script)

	for name, job := range map[string]batchv1.Job{"shards.yaml": shards, "merge.yaml": merge} {
		pod := job.Spec.Template.Spec
		if pod.RestartPolicy != corev1.RestartPolicyNever {
			t.Errorf("%s: restartPolicy %q: a failed shard is retried as a new pod, by the Job", name, pod.RestartPolicy)
		}
		if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
			t.Errorf("%s: the agent's pod gets a service account token", name)
		}
		for _, v := range pod.Volumes {
			if v.PersistentVolumeClaim == nil || v.PersistentVolumeClaim.ClaimName != pvc.Name {
				t.Errorf("%s: volume %s is not the claim %s", name, v.Name, pvc.Name)
			}
		}
		if c := pod.Containers[0]; c.Image != shard.Image {
			t.Errorf("%s runs %s, the shards %s: the merge needs the same repository", name, c.Image, shard.Image)
		}
	}
}

func onlyContainer(t *testing.T, file string, pod corev1.PodSpec) corev1.Container {
	t.Helper()
	if len(pod.Containers) != 1 {
		t.Fatalf("%s: %d containers, want 1", file, len(pod.Containers))
	}
	return pod.Containers[0]
}

// mountOf is the container's mount of the named volume at its subPath
// (a merge mounts it twice: the first is the shards' folder).
func mountOf(t *testing.T, file string, c corev1.Container, volume string) corev1.VolumeMount {
	t.Helper()
	for _, m := range c.VolumeMounts {
		if m.Name == volume {
			return m
		}
	}
	t.Fatalf("%s: no mount of volume %s", file, volume)
	return corev1.VolumeMount{}
}

// shellcheck checks a pod's sh script, where shellcheck is installed (CI
// has it, for actionlint).
func shellcheck(t *testing.T, script string) {
	t.Helper()
	if _, err := exec.LookPath("shellcheck"); err != nil {
		t.Log("shellcheck not installed; the merge script is not linted")
		return
	}
	cmd := exec.Command("shellcheck", "--shell=sh", "-")
	cmd.Stdin = strings.NewReader(script)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("shellcheck: %v\n%s", err, out)
	}
}
